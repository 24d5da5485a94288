"""Whether the wall clock can be trusted to purge and expire by.

Retention purges and expiries act on wall-clock ages, so a step of the clock acts on
everything at once: a gateway run 100 days behind and then set right would purge every
message it had just delivered, and expire every scheduled one. The guard notices two
jumps it cannot explain, and holds those actions until a person confirms the clock
(``smsgw clock confirm``) or the clock steps back to where it was:

- while running: the wall clock moved more than ``tolerance`` further than the
  monotonic clock since the last trusted reading (NTP slews by far less than that);
- at start: now is more than ``store_gap`` past the newest record in the store, or
  more than ``tolerance`` before it (the store was written by a clock ahead of this one).

Sending is not held: a message accepted now is sent now, whatever the clock says.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)

# All durations in seconds.
TOLERANCE: Final = 300.0  # wall against monotonic: more than NTP ever slews between checks
STORE_GAP: Final = 7 * 86400.0  # now past the store's newest record: longer than a holiday
RECHECK_INTERVAL: Final = 1.0  # how often a held action looks again for a sane clock


CHECKING: Final = "the clock is being checked against the store"


class ClockGuard:
    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        tolerance: float = TOLERANCE,
        store_gap: float = STORE_GAP,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._tolerance = tolerance
        self._store_gap = store_gap
        self._offset = wall() - monotonic()  # wall minus monotonic when last trusted
        self._doubt: str | None = None
        self._stepped = False  # the doubt is a step while running (a step back clears it)
        self._confirmed = asyncio.Event()
        self.held = 0  # actions held so far (purges, expiry batches), for tests and logs
        self._checking = False  # the store's newest record not read yet (at start)

    @property
    def checking(self) -> bool:
        return self._checking

    def check_store_later(self) -> None:
        """At start, when the store's newest record is read in the background (it takes a
        scan of a large store): purges and expiries wait for ``check_store``."""
        self._checking = True

    def check_store(self, newest: float | None) -> str | None:
        """At start: compare now with the newest timestamp the store holds."""
        if self._checking:
            self._checking = False
            self._confirmed.set()  # whatever waits looks again
            self._confirmed = asyncio.Event()
        if newest is None:
            return self.doubt()
        now = self._wall()
        if now - newest > self._store_gap:
            self._doubt_with(
                f"the clock reads {(now - newest) / 86400:.1f} days past the newest record "
                "in the store",
                stepped=False,
            )
        elif newest - now > self._tolerance:
            self._doubt_with(
                f"the clock reads {(newest - now) / 86400:.1f} days before the newest record "
                "in the store",
                stepped=False,
            )
        return self.doubt()

    def doubt(self) -> str | None:
        """Why the clock is not trusted now (None: it is). Each call takes a reading."""
        drift = (self._wall() - self._monotonic()) - self._offset
        if self._doubt is None and abs(drift) > self._tolerance:
            direction = "forward" if drift > 0 else "back"
            self._doubt_with(
                f"the wall clock stepped {direction} by {abs(drift):.0f} s against the "
                "monotonic clock",
                stepped=True,
            )
        elif self._doubt is not None and self._stepped and abs(drift) <= self._tolerance:
            log.warning("clock: back where it was before the step; purges and expiries resume")
            self._doubt = None
        return self._doubt

    def confirm(self) -> str | None:
        """A person says the clock is right now: it becomes the new reference. Returns
        the doubt that was cleared (None: there was none)."""
        cleared = self.doubt()
        self._offset = self._wall() - self._monotonic()
        self._doubt = None
        self._confirmed.set()
        self._confirmed = asyncio.Event()
        if cleared is not None:
            log.warning("clock: confirmed (%s); purges and expiries resume", cleared)
        return cleared

    def hold(self, what: str) -> bool:
        """Whether ``what`` must wait now (counted and logged when it must)."""
        reason = CHECKING if self._checking else self.doubt()
        if reason is None:
            return False
        self.held += 1
        # Said once at warning level when the doubt arose; each hold only at debug.
        log.debug("clock: %s held: %s", what, reason)
        return True

    async def trusted(self, what: str, interval: float = RECHECK_INTERVAL) -> None:
        """Return once the clock is trusted: confirmed, or stepped back."""
        while self.hold(what):
            confirmed = self._confirmed
            try:
                async with asyncio.timeout(interval):  # a modelled period: look again
                    await confirmed.wait()
            except TimeoutError:
                pass

    def _doubt_with(self, reason: str, *, stepped: bool) -> None:
        if self._doubt is None:
            log.warning(
                "clock: %s; purges and expiries are held until it is right again or "
                "`smsgw clock confirm` says it is",
                reason,
            )
        self._doubt, self._stepped = reason, stepped
