"""Every final state reaches the compatibility callbacks with the status each shape uses."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from gateway.compat.kannel import dlr_callbacks
from gateway.compat.twilio import status_callbacks
from gateway.config import EventKind
from gateway.store.base import Message, MessageState, Priority
from gateway.webhooks.events import message_event

PATIENT = "+14155550177"


def message(state: MessageState, *, sent_at: float | None = None) -> Message:
    return Message(
        id="msg_0001",
        to=PATIENT,
        body="Your appointment is tomorrow",
        priority=Priority.NORMAL,
        state=state,
        created_at=1000.0,
        updated_at=1010.0,
        send_at=1000.0,
        expires_at=None,
        encoding="gsm7",
        concat_ref=1,
        request_report=True,
        route=None,
        tags=(),
        metadata={},
        modem="alpha",
        attempts=1,
        last_error_code=None,
        last_error_text=None,
        sent_at=sent_at,
        delivered_at=None,
        segments=(),
        api_key_id=None,
    )


@pytest.mark.parametrize(
    ("kind", "state", "status"),
    [
        (EventKind.MESSAGE_EXPIRED, MessageState.EXPIRED, "failed"),
        (EventKind.MESSAGE_CANCELLED, MessageState.CANCELLED, "canceled"),
        (EventKind.MESSAGE_UNKNOWN, MessageState.UNKNOWN, "sent"),  # as GET answers it
        (EventKind.MESSAGE_SUPPRESSED, MessageState.SUPPRESSED, "failed"),
    ],
)
def test_twilio_status_callbacks_for_every_outcome(
    kind: EventKind, state: MessageState, status: str
) -> None:
    event = message_event(kind, message(state), b"\x01" * 32, 1010.0)
    spec = {"url": "http://127.0.0.1:9/status", "key_id": "key_x", "account_sid": "key_x"}
    [(_, payload)] = status_callbacks(event, spec)
    params = json.loads(payload)["params"]
    assert params["MessageStatus"] == status
    assert ("ErrorCode" in params) == (status == "failed")
    if state is MessageState.SUPPRESSED:
        assert params["ErrorCode"] == "21610"  # as Twilio reports a send to an opted-out number
    assert "token" not in json.loads(payload)


@pytest.mark.parametrize(
    ("kind", "state", "sent_at", "dlr"),
    [
        (EventKind.MESSAGE_EXPIRED, MessageState.EXPIRED, None, "16"),
        (EventKind.MESSAGE_CANCELLED, MessageState.CANCELLED, None, "16"),
        (EventKind.MESSAGE_UNKNOWN, MessageState.UNKNOWN, None, "8"),  # it may have left
        (EventKind.MESSAGE_SUPPRESSED, MessageState.SUPPRESSED, None, "16"),  # never left
    ],
)
def test_kannel_reports_for_every_outcome(
    kind: EventKind, state: MessageState, sent_at: float | None, dlr: str
) -> None:
    event = message_event(kind, message(state, sent_at=sent_at), b"\x01" * 32, 1010.0)
    spec = {"url": "http://127.0.0.1:9/dlr?type=%d", "mask": 31}
    [(_, payload)] = dlr_callbacks(event, spec)
    url = json.loads(payload)["url"]
    assert parse_qs(urlsplit(url).query)["type"] == [dlr]
