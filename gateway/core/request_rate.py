"""Requests per minute per API key, as token buckets held in memory.

A bucket holds up to a minute's allowance, so a client may spend it in a burst and
then goes at the steady rate. The limit is read from the key at each request, so a
change made with ``smsgw keys set`` applies at once. Counts live in this process
only: a restart forgives the current minute, which a rate (unlike a quota) may.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.errors import RateLimited

MINUTE = 60.0
MAX_BUCKETS = 10_000  # keys are few; the bound only keeps memory finite


class RequestRate:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, at)

    def take(self, key_id: str, per_minute: int) -> None:
        """Spend one request of ``key_id``'s allowance, or raise RateLimited."""
        now = self._clock()
        tokens, at = self._buckets.get(key_id, (float(per_minute), now))
        tokens = min(float(per_minute), tokens + (now - at) * per_minute / MINUTE)
        if tokens < 1.0:
            self._buckets[key_id] = (tokens, now)
            wait = (1.0 - tokens) * MINUTE / per_minute
            raise RateLimited(
                f"this API key may make {per_minute} requests a minute", retry_after=wait
            )
        if len(self._buckets) >= MAX_BUCKETS and key_id not in self._buckets:
            self._buckets.clear()
        self._buckets[key_id] = (tokens - 1.0, now)
