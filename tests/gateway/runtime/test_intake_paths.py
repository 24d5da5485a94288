"""Accept-time shortcuts: bulk queueing, fingerprints only where they are compared."""

from __future__ import annotations

import random

from gateway.config import ModemConfig
from gateway.core.routing import Router
from gateway.core.scheduler import ANY_MODEM, Scheduler
from gateway.core.service import SendRequest
from gateway.core.submission import (
    ConcatReferences,
    SubmissionRules,
    prepare_message,
    request_fingerprint,
)
from gateway.store.base import Priority, QueueItem

NOW = 1_800_000_000.0


def _item(message_id: str, **changes: object) -> QueueItem:
    fields: dict[str, object] = {
        "id": message_id,
        "priority": Priority.NORMAL,
        "send_at": 0.0,
        "expires_at": None,
        "route": None,
        "to_hash": b"h",
        "attempts": 0,
    }
    fields.update(changes)
    return QueueItem(**fields)  # type: ignore[arg-type]


async def test_add_many_keeps_order_timers_and_expiry() -> None:
    now = 1_000_000.0
    s = Scheduler(clock=lambda: now)
    s.set_ready("m1", True)
    s.add_many(
        [
            (_item("late", send_at=now + 3600), ANY_MODEM),
            (_item("a"), ANY_MODEM),
            (_item("gone", expires_at=now - 1), ANY_MODEM),
            (_item("b"), ANY_MODEM),
            (_item("urgent", priority=Priority.URGENT), ANY_MODEM),
        ]
    )
    assert [i.id for i in s.take_expired()] == ["gone"]
    taken = [s.take("m1") for _ in range(4)]
    assert [i.id if i else None for i in taken] == ["urgent", "a", "b", None]
    assert "late" in s
    s.close()


def test_router_hands_out_one_eligibility_per_answer() -> None:
    router = Router((), (ModemConfig(name="m1", port="/dev/x"),))
    assert router.eligibility(None, "m1") is router.eligibility(None, "m1")
    assert router.eligibility(None, "m1").preferred == "m1"
    assert router.eligibility(None, None).preferred is None


def test_fingerprint_kept_only_with_an_idempotency_key() -> None:
    rules = SubmissionRules("1", 3, Router((), ()))
    plain = prepare_message(
        SendRequest(to="+15551234567", body="hi"), rules, now=NOW, api_key=None,
        references=ConcatReferences(random.Random(1)),
    )  # fmt: skip
    keyed_request = SendRequest(to="+15551234567", body="hi", idempotency_key="k")
    keyed = prepare_message(
        keyed_request, rules, now=NOW, api_key=None, references=ConcatReferences(random.Random(1))
    )
    assert plain.request_hash is None
    assert keyed.request_hash == request_fingerprint("+15551234567", keyed_request)
