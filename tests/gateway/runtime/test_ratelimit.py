"""Per-modem rate limits with a fake clock whose sleep advances time."""

from __future__ import annotations

import itertools
import random

from gateway.config import RateConfig
from gateway.core.ratelimit import RateLimiter
from gateway.core.waiting import WaitReason
from gateway.store.base import RateMark


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(t: FakeTime, **kw: float) -> RateLimiter:
    return RateLimiter(RateConfig(**kw), clock=t.clock, sleep=t.sleep, rng=random.Random(1))  # type: ignore[arg-type]


async def test_unlimited_never_waits() -> None:
    t = FakeTime()
    rl = limiter(t, per_minute=0)
    for _ in range(1000):
        await rl.acquire()
    assert t.slept == []


async def test_per_minute_sliding_window() -> None:
    t = FakeTime()
    rl = limiter(t, per_minute=3)
    times = []
    for _ in range(7):
        await rl.acquire()
        times.append(t.now)
    assert times == [0, 0, 0, 60, 60, 60, 120]


async def test_windows_combine() -> None:
    t = FakeTime()
    rl = limiter(t, per_minute=2, per_hour=3)
    times = []
    for _ in range(5):
        await rl.acquire()
        times.append(t.now)
    assert times == [0, 0, 60, 3600, 3600]


async def test_day_limit_is_a_rolling_24_hours() -> None:
    t = FakeTime()
    rl = limiter(t, per_minute=0, per_day=2)
    await rl.acquire()
    t.now = 5000
    await rl.acquire()
    assert rl.delay() == 86400 - 5000
    await rl.acquire()
    assert t.now == 86400


async def test_jitter_spaces_sends_within_bounds() -> None:
    t = FakeTime()
    rl = limiter(t, per_minute=0, jitter_seconds=2.0)
    times = []
    for _ in range(20):
        await rl.acquire()
        times.append(t.now)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0 <= g <= 2.0 for g in gaps)
    assert sum(gaps) > 5  # the spacing is real, not zero


async def test_wait_does_not_take_the_slot() -> None:
    t = FakeTime()
    rl = limiter(t, per_minute=1)
    await rl.wait()
    await rl.wait()
    assert t.now == 0
    rl.record()
    assert rl.delay() == 60


async def test_restored_sends_count_in_their_windows() -> None:
    t = FakeTime()
    t.now = 200_000.0
    rl = limiter(t, per_minute=0, per_day=3)
    rl.restore([t.now - 90_000, t.now - 5000, t.now - 4000])  # the first is over a day old
    assert rl.delay() == 0
    rl.record()
    assert rl.delay() == 86400 - 5000
    assert rl.holdup() == (WaitReason.DAILY_CAP, t.now - 5000 + 86400)


async def test_holdup_names_the_window_that_binds() -> None:
    t = FakeTime()
    rl = limiter(t, per_minute=1, per_day=100)
    assert rl.holdup() is None
    rl.record()
    assert rl.holdup() == (WaitReason.RATE_WINDOW, 60.0)
    assert limiter(t, per_minute=0).holdup() is None


async def test_record_says_what_to_persist() -> None:
    t = FakeTime()
    t.now = 10_000.0
    rl = limiter(t, per_minute=2, per_hour=5)
    assert rl.record() == RateMark(at=10_000.0, forget_before=10_000.0 - 3600)
    assert limiter(t, per_minute=0).record() is None
