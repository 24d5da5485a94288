"""Why a queued message waits, as the scheduler answers it, and the counts by reason."""

from __future__ import annotations

from gateway.core.scheduler import Eligibility, Scheduler
from gateway.core.waiting import Waiting, WaitReason
from tests.gateway.runtime.test_scheduler import ManualClock, item

NOW = 1_000_000.0


def _counts(s: Scheduler) -> dict[str, int]:
    return {reason.value: n for reason, n in s.waiting_counts().items() if n}


async def test_a_message_for_later_is_scheduled() -> None:
    s = Scheduler(clock=ManualClock(NOW))
    s.set_ready("m1", True)
    s.add(item("later", send_at=NOW + 60))
    assert s.waiting("later") == Waiting(WaitReason.SCHEDULED, until=NOW + 60)
    assert _counts(s) == {"scheduled": 1}
    s.remove("later")
    assert s.waiting("later") is None
    assert _counts(s) == {}
    s.close()


async def test_no_modem_can_take_it() -> None:
    s = Scheduler(clock=ManualClock(NOW))
    s.add(item("a"))
    assert s.waiting("a") == Waiting(WaitReason.NO_ELIGIBLE_MODEM)
    s.set_ready("m1", True)
    s.add(item("b"), Eligibility(modems=frozenset({"m9"})))  # a route to a modem not started
    assert s.waiting("b") == Waiting(WaitReason.NO_ELIGIBLE_MODEM)
    assert s.waiting("a") == Waiting(WaitReason.IN_LINE, "m1")
    assert _counts(s) == {"no_eligible_modem": 1, "in_line": 1}
    s.close()


async def test_the_modem_that_frees_first_is_named() -> None:
    s = Scheduler(clock=ManualClock(NOW))
    s.add_modem("m1")
    s.add_modem("m2")
    s.set_modem_waiting("m1", Waiting(WaitReason.MODEM_HELD, "m1", NOW + 30))
    s.set_modem_waiting("m2", Waiting(WaitReason.DAILY_CAP, "m2", NOW + 3000))
    s.add(item("a"))
    s.add(item("b"))
    assert s.waiting("a") == Waiting(WaitReason.MODEM_HELD, "m1", NOW + 30)
    assert _counts(s) == {"modem_held": 2}
    s.set_modem_waiting("m1", Waiting(WaitReason.MODEM_DOWN, "m1"))
    assert s.waiting("b") == Waiting(WaitReason.DAILY_CAP, "m2", NOW + 3000)
    assert _counts(s) == {"daily_cap": 2}
    s.set_modem_waiting("m1", None)
    s.set_ready("m1", True)
    assert s.waiting("a") == Waiting(WaitReason.IN_LINE, "m1")
    taken = s.take("m1")
    assert taken is not None
    assert s.waiting(taken.id) is None
    assert _counts(s) == {"in_line": 1}
    s.close()


async def test_a_pinned_route_waits_for_its_own_modem() -> None:
    s = Scheduler(clock=ManualClock(NOW))
    s.set_ready("m1", True)
    s.add_modem("m2")
    s.add(item("a"), Eligibility(modems=frozenset({"m2"})))
    assert s.waiting("a") == Waiting(WaitReason.MODEM_DOWN, "m2")
    s.set_modem_waiting("m2", Waiting(WaitReason.NOT_REGISTERED, "m2"))
    assert s.waiting("a") == Waiting(WaitReason.NOT_REGISTERED, "m2")
    assert _counts(s) == {"not_registered": 1}
    s.close()


async def test_counts_follow_due_times_and_expiry() -> None:
    clock = ManualClock(NOW)
    s = Scheduler(clock=clock)
    s.add(item("soon", send_at=NOW + 5))
    s.add(item("stale", expires_at=NOW + 1))
    assert _counts(s) == {"scheduled": 1, "no_eligible_modem": 1}
    clock.now = NOW + 10
    s.refresh()
    assert [i.id for i in s.take_expired()] == ["stale"]
    assert _counts(s) == {"no_eligible_modem": 1}
    assert s.waiting("soon") == Waiting(WaitReason.NO_ELIGIBLE_MODEM)
    s.close()
