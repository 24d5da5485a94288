"""Per-modem send limits, so a carrier does not block a SIM for sending in bursts.

Sliding windows over the send times of the last minute, hour and day (0 means
no limit). The day is a rolling 24 hours, not a calendar day: simpler, the same
on every host regardless of time zone, and never allows a burst at midnight.
Optional jitter adds a random extra gap (0..jitter seconds) between sends.

Each segment counts as one message: that is what the carrier counts. One
limiter belongs to one modem worker, so ``wait`` and ``record`` need no lock.
The clock and sleep are injectable; waiting for the next slot is a modelled
delay, not synchronisation.

The clock is wall time, not monotonic: the send times outlive the process (the
store keeps them, ``restore`` reads them back at start), so a restart cannot
reset a daily cap. A clock stepped back holds sends longer, never fewer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

from gateway.config import RateConfig
from gateway.core.waiting import WaitReason
from gateway.store.base import RateMark

MINUTE: Final = 60.0
HOUR: Final = 3600.0
DAY: Final = 86400.0


class RateLimiter:
    def __init__(
        self,
        config: RateConfig,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._windows = [
            (limit, span)
            for limit, span in (
                (config.per_minute, MINUTE),
                (config.per_hour, HOUR),
                (config.per_day, DAY),
            )
            if limit > 0
        ]
        self._span = max((span for _, span in self._windows), default=0.0)
        self._keep = max((limit for limit, _ in self._windows), default=0)
        self._jitter = config.jitter_seconds
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._sent: deque[float] = deque()
        self._gap = self._next_gap()

    @property
    def span(self) -> float:
        """The longest window: sends older than this no longer count."""
        return self._span

    def restore(self, times: Iterable[float]) -> None:
        """Count sends made before a restart (POSIX seconds, as the store kept them)."""
        self._sent = deque(sorted((*self._sent, *times)))
        self._forget(self._clock())

    def delay(self) -> float:
        """Seconds until the next send is allowed (0 when it is allowed now)."""
        found = self._binding()
        return 0.0 if found is None else found[1] - self._clock()

    def holdup(self) -> tuple[WaitReason, float] | None:
        """What holds the next send back (the day window, or a shorter one or the jitter
        gap) and when it frees; None when a send is allowed now."""
        found = self._binding()
        if found is None:
            return None
        span, until = found
        return (WaitReason.DAILY_CAP if span >= DAY else WaitReason.RATE_WINDOW), until

    def _binding(self) -> tuple[float, float] | None:
        """(span of the window that frees last, when it frees), or None when free now."""
        now = self._clock()
        self._forget(now)
        found: tuple[float, float] | None = None
        sent = self._sent
        for limit, span in self._windows:
            if len(sent) >= limit:
                # The send that must leave the window before another is allowed.
                until = sent[-limit] + span
                if until > now and (found is None or until > found[1]):
                    found = (span, until)
        if sent and self._gap > 0:
            until = sent[-1] + self._gap
            if until > now and (found is None or until > found[1]):
                found = (0.0, until)
        return found

    async def wait(self) -> None:
        """Sleep until a send is allowed, without taking the slot."""
        while (delay := self.delay()) > 0:
            await self._sleep(delay)

    def record(self) -> RateMark | None:
        """Count a send that happens now; returns what the store keeps of it (None when
        nothing is limited)."""
        if not self._windows and self._jitter <= 0:
            return None
        now = self._clock()
        self._sent.append(now)
        self._gap = self._next_gap()
        return RateMark(at=now, forget_before=now - self._span)

    async def acquire(self) -> None:
        await self.wait()
        self.record()

    def _forget(self, now: float) -> None:
        sent = self._sent
        horizon = now - self._span
        keep = max(self._keep, 1)  # the last send stays, for the jitter gap
        while len(sent) > 1 and (sent[0] <= horizon or len(sent) > keep):
            sent.popleft()

    def _next_gap(self) -> float:
        return self._rng.uniform(0, self._jitter) if self._jitter > 0 else 0.0
