"""Per-modem send limits, so a carrier does not block a SIM for sending in bursts.

Sliding windows over the send times of the last minute, hour and day (0 means
no limit). The day is a rolling 24 hours, not a calendar day: simpler, the same
on every host regardless of time zone, and never allows a burst at midnight.
Optional jitter adds a random extra gap (0..jitter seconds) between sends.

Each segment counts as one message: that is what the carrier counts. One
limiter belongs to one modem worker, so ``wait`` and ``record`` need no lock.
The clock and sleep are injectable; waiting for the next slot is a modelled
delay, not synchronisation.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final

from gateway.config import RateConfig

MINUTE: Final = 60.0
HOUR: Final = 3600.0
DAY: Final = 86400.0


class RateLimiter:
    def __init__(
        self,
        config: RateConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
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

    def delay(self) -> float:
        """Seconds until the next send is allowed (0 when it is allowed now)."""
        now = self._clock()
        self._forget(now)
        wait = 0.0
        sent = self._sent
        for limit, span in self._windows:
            if len(sent) >= limit:
                # The send that must leave the window before another is allowed.
                wait = max(wait, sent[-limit] + span - now)
        if sent and self._gap > 0:
            wait = max(wait, sent[-1] + self._gap - now)
        return max(0.0, wait)

    async def wait(self) -> None:
        """Sleep until a send is allowed, without taking the slot."""
        while (delay := self.delay()) > 0:
            await self._sleep(delay)

    def record(self) -> None:
        """Count a send that happens now."""
        if not self._windows and self._jitter <= 0:
            return
        self._sent.append(self._clock())
        self._gap = self._next_gap()

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
