"""The in-memory queue: priorities, FIFO, eligibility, send_at timing, cancel and expiry."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.core.scheduler import ANY_MODEM, Eligibility, Scheduler
from gateway.store.base import Priority, QueueItem

WAIT = 5.0  # seconds: a generous deadline for things that should happen at once


class ManualClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def item(
    message_id: str,
    priority: Priority = Priority.NORMAL,
    *,
    send_at: float = 0.0,
    expires_at: float | None = None,
) -> QueueItem:
    return QueueItem(
        id=message_id,
        priority=priority,
        send_at=send_at,
        expires_at=expires_at,
        route=None,
        to_hash=b"h",
        attempts=0,
    )


def ready(*names: str, clock: ManualClock | None = None) -> Scheduler:
    s = Scheduler(clock=clock or ManualClock())
    for name in names:
        s.set_ready(name, True)
    return s


async def test_priorities_then_fifo_within_a_priority() -> None:
    s = ready("m1")
    s.add(item("b1", Priority.BULK))
    s.add(item("n1", Priority.NORMAL))
    s.add(item("b2", Priority.BULK))
    s.add(item("u1", Priority.URGENT))
    s.add(item("n2", Priority.NORMAL))
    order = [s.take("m1") for _ in range(5)]
    assert [i.id for i in order if i] == ["u1", "n1", "n2", "b1", "b2"]
    assert s.take("m1") is None
    s.close()


async def test_one_urgent_overtakes_fifty_thousand_bulk_quickly() -> None:
    s = ready("m1")
    s.add_many((item(f"b{i}", Priority.BULK), ANY_MODEM) for i in range(50_000))
    first = s.take("m1")
    assert first is not None
    assert first.id == "b0"
    s.add(item("urgent", Priority.URGENT))
    started = time.perf_counter()
    nxt = await asyncio.wait_for(s.next_for("m1"), WAIT)
    elapsed = time.perf_counter() - started
    assert nxt.id == "urgent"
    assert elapsed < 0.05  # a heap pop, not a scan of 50k
    assert len(s) == 49_999
    second = s.take("m1")
    assert second is not None
    assert second.id == "b1"
    s.close()


async def test_take_better_than_lets_only_higher_priority_through() -> None:
    s = ready("m1")
    s.add(item("b", Priority.BULK))
    assert s.take("m1", better_than=Priority.BULK) is None
    s.add(item("u", Priority.URGENT))
    got = s.take("m1", better_than=Priority.BULK)
    assert got is not None
    assert got.id == "u"
    s.close()


async def test_next_for_waits_for_an_enqueue() -> None:
    s = ready("m1")
    waiter = asyncio.create_task(s.next_for("m1"))
    await asyncio.sleep(0)
    assert not waiter.done()
    s.add(item("x"))
    got = await asyncio.wait_for(waiter, WAIT)
    assert got.id == "x"
    s.close()


async def test_a_modem_that_is_not_ready_is_not_served_until_it_is() -> None:
    s = Scheduler(clock=ManualClock())
    s.add_modem("m1")
    s.add(item("x"))
    assert s.take("m1") is None
    waiter = asyncio.create_task(s.next_for("m1"))
    await asyncio.sleep(0)
    assert not waiter.done()
    s.set_ready("m1", True)
    assert (await asyncio.wait_for(waiter, WAIT)).id == "x"
    s.close()


async def test_cancel_removes_a_queued_item() -> None:
    s = ready("m1")
    s.add(item("a"))
    s.add(item("b"))
    assert s.remove("a") is True
    assert s.remove("a") is False
    got = s.take("m1")
    assert got is not None
    assert got.id == "b"
    assert s.take("m1") is None
    assert len(s) == 0
    s.close()


async def test_send_at_is_held_back_until_due_with_a_manual_clock() -> None:
    clock = ManualClock()
    s = ready("m1", clock=clock)
    s.add(item("later", send_at=clock.now + 3600))
    s.add(item("now"))
    assert [s.take("m1"), s.take("m1")][1] is None
    clock.now += 3600
    s.refresh()
    got = s.take("m1")
    assert got is not None
    assert got.id == "later"
    s.close()


async def test_send_at_timer_fires_on_its_own() -> None:
    s = Scheduler(clock=time.time)
    s.set_ready("m1", True)
    due = time.time() + 0.15
    s.add(item("soon", send_at=due))
    assert s.take("m1") is None
    got = await asyncio.wait_for(s.next_for("m1"), WAIT)
    assert got.id == "soon"
    assert time.time() >= due - 0.01
    s.close()


async def test_expired_items_are_handed_back_not_served() -> None:
    clock = ManualClock()
    s = ready(clock=clock)  # nobody ready: the item sits in the queue
    s.add(item("short", expires_at=clock.now + 10))
    s.add(item("long", expires_at=clock.now + 1000))
    s.add(item("stale", expires_at=clock.now - 1))
    assert [i.id for i in s.take_expired()] == ["stale"]
    clock.now += 10
    s.refresh()
    assert [i.id for i in s.take_expired()] == ["short"]
    assert "short" not in s
    assert "long" in s
    s.close()


async def test_expiry_timer_wakes_wait_expired() -> None:
    s = Scheduler(clock=time.time)
    s.add(item("x", expires_at=time.time() + 0.1))
    expired = await asyncio.wait_for(s.wait_expired(), WAIT)
    assert [i.id for i in expired] == ["x"]
    s.close()


async def test_route_pools_are_respected() -> None:
    s = ready("a", "b")
    s.add(item("for_b"), Eligibility(modems=frozenset({"b"})))
    assert s.take("a") is None
    got = s.take("b")
    assert got is not None
    assert got.id == "for_b"
    s.close()


async def test_fallback_only_when_no_pool_modem_is_ready() -> None:
    s = ready("a")
    s.add_modem("b")
    s.add(item("x"), Eligibility(modems=frozenset({"b"}), fallback=True))
    s.add(item("y"), Eligibility(modems=frozenset({"b"}), fallback=False))
    got = s.take("a")
    assert got is not None
    assert got.id == "x"
    assert s.take("a") is None  # y has no fallback: it waits for b
    s.set_ready("b", True)
    got = s.take("b")
    assert got is not None
    assert got.id == "y"
    s.close()


async def test_sticky_modem_wins_while_ready() -> None:
    s = ready("a", "b")
    sticky = Eligibility(modems=frozenset({"a", "b"}), preferred="b")
    s.add(item("x"), sticky)
    assert s.take("a") is None
    s.set_ready("b", False)
    got = s.take("a")
    assert got is not None
    assert got.id == "x"
    s.close()


async def test_a_sticky_message_leaves_the_modem_that_failed_it() -> None:
    s = ready("a", "b")
    sticky = Eligibility(modems=frozenset({"a", "b"}), preferred="b").excluding("b")
    s.add(item("x"), sticky)
    assert s.take("b") is None
    assert s.has_alternative(sticky, "b")
    got = s.take("a")
    assert got is not None
    assert got.id == "x"
    s.close()


async def test_excluded_modem_is_used_again_only_when_no_other_is_ready() -> None:
    s = ready("a", "b")
    elig = Eligibility(modems=frozenset({"a", "b"})).excluding("a")
    s.add(item("x"), elig)
    assert s.take("a") is None
    assert s.has_alternative(elig, "a")
    s.set_ready("b", False)
    assert not s.has_alternative(elig, "a")
    got = s.take("a")
    assert got is not None
    assert got.id == "x"
    s.close()


async def test_re_adding_replaces_the_earlier_entry() -> None:
    s = ready("a", "b")
    s.add(item("x"), Eligibility(modems=frozenset({"a"})))
    s.add(item("x"), Eligibility(modems=frozenset({"b"})))
    assert len(s) == 1
    assert s.take("a") is None
    got = s.take("b")
    assert got is not None
    assert got.id == "x"
    s.close()


@pytest.mark.parametrize("count", [1, 3])
async def test_counts_by_priority(count: int) -> None:
    s = ready()
    for i in range(count):
        s.add(item(f"u{i}", Priority.URGENT))
    s.add(item("b", Priority.BULK))
    assert s.counts() == {Priority.URGENT: count, Priority.NORMAL: 0, Priority.BULK: 1}
    s.close()


async def test_re_adding_with_a_later_send_at_is_not_promoted_early() -> None:
    clock = ManualClock()
    s = ready("m1", clock=clock)
    s.add(item("x", send_at=clock.now + 10, expires_at=clock.now + 20))
    s.add(item("x", send_at=clock.now + 100, expires_at=clock.now + 200))
    clock.now += 30
    s.refresh()
    assert s.take("m1") is None  # the first add's timer and expiry are stale
    assert s.take_expired() == []
    clock.now += 70
    s.refresh()
    got = s.take("m1")
    assert got is not None
    assert got.send_at == clock.now
    s.close()
