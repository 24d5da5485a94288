"""Records as the JSON the API answers with (the shapes in ``openapi.py``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from gateway.core.service import ModemStatus
from gateway.core.waiting import Waiting
from gateway.store.base import (
    AddResult,
    EventLogEntry,
    Inbound,
    Message,
    MessageState,
    Page,
    Priority,
    Segment,
    SegmentState,
)
from gateway.timefmt import rfc3339

JsonObject = dict[str, Any]


_PRIORITY_NAMES: Final = {p: p.name.lower() for p in Priority}
# Enum ``.value`` is a descriptor call; a dict lookup is several times cheaper per item.
_MESSAGE_STATES: Final = {s: s.value for s in MessageState}
_SEGMENT_STATES: Final = {s: s.value for s in SegmentState}
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def waiting_json(waiting: Waiting | None) -> JsonObject | None:
    if waiting is None:
        return None
    return {
        "reason": waiting.reason.value,
        "modem": waiting.modem,
        "until": rfc3339(waiting.until),
    }


def message_json(message: Message, *, with_body: bool) -> JsonObject:
    """``with_body`` only for keys that may read: a send-only key gets everything else."""
    data: JsonObject = {
        "id": message.id,
        "to": message.to,
        "state": _MESSAGE_STATES[message.state],
        "priority": _PRIORITY_NAMES[message.priority],
        "category": message.category,
        "created_at": rfc3339(message.created_at),
        "updated_at": rfc3339(message.updated_at),
        "send_at": rfc3339(message.send_at),
        "expires_at": rfc3339(message.expires_at),
        "sent_at": rfc3339(message.sent_at),
        "delivered_at": rfc3339(message.delivered_at),
        "encoding": message.encoding,
        "segment_count": len(message.segments),
        "segments": [segment_json(s) for s in message.segments],
        "modem": message.modem,
        "attempts": message.attempts,
        "error": _error_of(message),
        "request_report": message.request_report,
        "tags": list(message.tags),
        "metadata": message.metadata,
        "conversation_id": message.conversation_id,
    }
    if with_body:
        data["body"] = message.body
        data |= replies_json(message)
    return data


def replies_json(message: Message) -> JsonObject:
    """What the message asked the patient to answer, and the answer it got (clinic text and
    the patient's answer: only for keys that may read bodies)."""
    expected, reply = message.replies, message.reply
    return {
        "replies": None if expected is None else dict(expected.replies),
        "reply_window": None if expected is None else int(expected.window),
        "reply": None
        if reply is None
        else {
            "value": reply.value,
            "inbound_id": reply.inbound_id,
            "received_at": rfc3339(reply.received_at),
        },
    }


def batch_item_json(result: AddResult) -> JsonObject:
    """One item of a batch answer: enough to track the message, no number or text.

    A batch of a thousand answered with full resources would spend as long writing
    the answer as storing the messages, and would send the PHI back over the wire;
    ``GET /v1/messages/{id}`` has the rest.
    """
    message = result.message
    return {
        "id": message.id,
        "state": _MESSAGE_STATES[message.state],
        "segment_count": len(message.segments),
        "encoding": message.encoding,
        "replayed": not result.created,
    }


def segment_json(segment: Segment) -> JsonObject:
    return {
        "seq": segment.seq,
        "state": _SEGMENT_STATES[segment.state],
        "modem": segment.modem,
        "reference": segment.reference,
        "sent_at": rfc3339(segment.sent_at),
        "report_status": segment.report_status,
    }


def _error_of(message: Message) -> JsonObject | None:
    if message.last_error_code is None:
        return None
    return {"code": message.last_error_code, "message": message.last_error_text or ""}


def inbound_json(inbound: Inbound) -> JsonObject:
    return {
        "id": inbound.id,
        "from": inbound.sender,
        "text": inbound.text,
        "modem": inbound.modem,
        "encoding": inbound.encoding,
        "received_at": rfc3339(inbound.received_at),
        "sent_at": rfc3339(inbound.sent_at),
        "parts": inbound.parts,
        "complete": inbound.complete,
        "conversation_id": inbound.conversation_id,
        "in_reply_to": inbound.in_reply_to,
        "reply_value": inbound.reply_value,
        "channel": inbound.channel,
    }


def modem_json(status: ModemStatus) -> JsonObject:
    identity = status.identity
    health = status.health
    return {
        "name": status.name,
        "port": status.port,
        "profile": status.profile,
        "state": status.state,
        "reason": status.reason,
        "tags": list(status.tags),
        "number": status.number,
        "identity": None
        if identity is None
        else {
            "manufacturer": identity.manufacturer,
            "model": identity.model,
            "revision": identity.revision,
            "imei": identity.imei,
            "imsi": identity.imsi,
            "iccid": identity.iccid,
        },
        "health": None
        if health is None
        else {
            "signal_dbm": health.signal_dbm,
            "csq": health.csq,
            "registration": health.registration.value,
            "technology": health.technology,
            "operator": health.operator,
            "sim": health.sim,
            "storage_used": health.storage_used,
            "storage_total": health.storage_total,
        },
        "sent_total": status.sent_total,
        "failed_total": status.failed_total,
        "last_error": status.last_error,
        "last_seen": rfc3339(status.last_seen),
        "balance": status.balance,
        "balance_text": status.balance_text,
        "balance_at": rfc3339(status.balance_at),
        "waiting": waiting_json(status.waiting),
    }


def event_json(event: EventLogEntry) -> JsonObject:
    return {
        "id": event.id,
        "at": rfc3339(event.at),
        "kind": event.kind,
        "modem": event.modem,
        "detail": event.detail,
    }


def page_json(page: Page[Any], items: list[JsonObject]) -> JsonObject:
    return {"items": items, "next_cursor": page.next_cursor}


def error_json(code: str, message: str, field: str | None) -> JsonObject:
    return {"error": {"code": code, "message": message, "field": field}}


def json_response(
    data: JsonObject, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_ENCODER.encode)
