"""Failed authentications counted per source address, so keys cannot be guessed fast.

An address that fails ``limit`` times within ``window`` seconds of its first failure
is refused (``429``, whatever it sends) until that window ends; the refusal is logged
once per window, not once per attempt, so a flood cannot fill the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import AuthThrottled

log = logging.getLogger(__name__)

MAX_ADDRESSES = 10_000  # windows tracked at once; the oldest go first beyond it


@dataclass(slots=True)
class _Window:
    started: float
    failures: int
    logged: bool = False


class AuthFailures:
    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def check(self, address: str) -> None:
        """Raise AuthThrottled while ``address`` is refused."""
        entry = self._current(address)
        if entry is not None and entry.failures >= self.limit:
            raise AuthThrottled(
                "too many failed authentications from this address; try again later",
                retry_after=entry.started + self.window - self._clock(),
            )

    def failed(self, address: str) -> None:
        """Count one failure; the one that reaches the limit is logged."""
        entry = self._current(address)
        if entry is None:
            if len(self._windows) >= MAX_ADDRESSES:
                self._prune()
            entry = self._windows[address] = _Window(self._clock(), 0)
        entry.failures += 1
        if entry.failures >= self.limit and not entry.logged:
            entry.logged = True
            log.warning(
                "%d failed authentications from %s within %.0f s: refusing it until the "
                "window ends",
                entry.failures,
                address,
                self.window,
            )

    def _current(self, address: str) -> _Window | None:
        entry = self._windows.get(address)
        if entry is not None and self._clock() - entry.started >= self.window:
            del self._windows[address]
            return None
        return entry

    def _prune(self) -> None:
        now = self._clock()
        self._windows = {a: w for a, w in self._windows.items() if now - w.started < self.window}
        while len(self._windows) >= MAX_ADDRESSES:
            del self._windows[next(iter(self._windows))]
