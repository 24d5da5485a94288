"""What an event is: its kind, the data a subscriber receives, the key that orders it.

Events about one patient (messages to a number, texts from it) share an ordering
key, the keyed hash of the number, so a subscriber sees them in the order they
happened; modem events are ordered per modem. The key is a hash, never a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.config import EventKind
from gateway.store.base import Inbound, Message, Reply, Suppression
from gateway.store.secure_records import SecureMessage
from gateway.timefmt import rfc3339


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    kind: EventKind
    order_key: str  # events with one key are delivered in order
    source: str | None  # message or inbound id: one event of a kind per source
    at: float
    data: dict[str, Any]
    message: Message | None = None  # for compatibility callbacks (status callbacks, DLRs)
    inbound: Inbound | None = None


def number_key(number_hash: bytes) -> str:
    return "n:" + number_hash[:16].hex()


def message_event(kind: EventKind, message: Message, number_hash: bytes, at: float) -> WebhookEvent:
    error = None
    if message.last_error_code is not None:
        error = {"code": message.last_error_code, "message": message.last_error_text}
    data = {
        "message_id": message.id,
        "to": message.to,
        "state": message.state.value,
        "modem": message.modem,
        "segments": len(message.segments),
        "conversation_id": message.conversation_id,
        "tags": list(message.tags),
        "metadata": message.metadata,
        "created_at": rfc3339(message.created_at),
        "sent_at": rfc3339(message.sent_at),
        "delivered_at": rfc3339(message.delivered_at),
        "error": error,
    }
    return WebhookEvent(kind, number_key(number_hash), message.id, at, data, message=message)


def inbound_event(inbound: Inbound, number_hash: bytes, at: float) -> WebhookEvent:
    data = {
        "inbound_id": inbound.id,
        "from": inbound.sender,
        "text": inbound.text,
        "modem": inbound.modem,
        "encoding": inbound.encoding,
        "parts": inbound.parts,
        "complete": inbound.complete,
        "conversation_id": inbound.conversation_id,
        "received_at": rfc3339(inbound.received_at),
        "sent_at": rfc3339(inbound.sent_at),
        "in_reply_to": inbound.in_reply_to,
        "reply_value": inbound.reply_value,
        "channel": inbound.channel,
    }
    return WebhookEvent(
        EventKind.INBOUND_RECEIVED, number_key(number_hash), inbound.id, at, data, inbound=inbound
    )


def reply_event(message: Message, reply: Reply, number_hash: bytes, at: float) -> WebhookEvent:
    """A patient's text answered the message's expected replies; after its inbound event."""
    data = {
        "message_id": message.id,
        "value": reply.value,
        "inbound_id": reply.inbound_id,
        "received_at": rfc3339(reply.received_at),
        "to": message.to,
        "category": message.category,
        "tags": list(message.tags),
        "metadata": message.metadata,
    }
    # No ``message``: that is for compatibility callbacks, which an answer is not.
    return WebhookEvent(EventKind.REPLY_MATCHED, number_key(number_hash), message.id, at, data)


def consent_event(
    kind: EventKind, suppression: Suppression, number_hash: bytes, at: float
) -> WebhookEvent:
    """A number put on the opt-out list or taken off it; ordered with its messages."""
    data = {
        "suppression_id": suppression.id,
        "number": suppression.number,
        "category": suppression.category,
        "source": suppression.source,
        "modem": suppression.modem,
        "created_at": rfc3339(suppression.created_at),
    }
    return WebhookEvent(kind, number_key(number_hash), suppression.id, at, data)


def secure_event(
    kind: EventKind,
    record: SecureMessage,
    number_hash: bytes,
    at: float,
    inbound: Inbound | None = None,
) -> WebhookEvent:
    """What happened to a secure message (never its content); an answer names its text."""
    data = {
        "secure_message_id": record.id,
        "message_id": record.message_id,
        "to": record.to,
        "state": record.state(at).value,
        "category": record.category,
        "tags": list(record.tags),
        "metadata": record.metadata,
        "read_at": rfc3339(record.read_at),
        "answered_at": rfc3339(record.answered_at),
        "locked_at": rfc3339(record.locked_at),
        "inbound_id": None if inbound is None else inbound.id,
        "conversation_id": None if inbound is None else inbound.conversation_id,
    }
    return WebhookEvent(kind, number_key(number_hash), record.id, at, data)


def modem_event(kind: EventKind, modem: str, reason: str | None, at: float) -> WebhookEvent:
    return WebhookEvent(kind, f"m:{modem}", None, at, {"modem": modem, "reason": reason})


def envelope(event_id: str, event: WebhookEvent) -> dict[str, Any]:
    """The JSON body a subscriber receives."""
    return {
        "id": event_id,
        "type": event.kind.value,
        "created_at": rfc3339(event.at),
        "data": event.data,
    }
