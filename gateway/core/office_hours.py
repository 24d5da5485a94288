"""Whether the clinic's office is open, and since when it has been closed.

Office hours are windows of local time per weekday; a day without any, or a holiday,
is closed. The auto-reply answers a conversation at most once per *closed period*, the
time from one closing to the next opening; a period is named by the instant it began,
so the name is the same for every text in it and after a restart.
"""

from __future__ import annotations

from typing import Final

from gateway.config import ClinicConfig
from gateway.core.localtime import days_around, wall_instant

LOOKBACK_DAYS: Final = 14  # how far back a closing is looked for (long holidays included)
NEVER_OPEN: Final = 0.0  # the period of a clinic with no opening in the lookback


class OfficeHours:
    def __init__(self, clinic: ClinicConfig) -> None:
        self._clinic = clinic
        self._zone = clinic.zone

    def closed_since(self, at: float) -> float | None:
        """The instant the closed period holding ``at`` began; None while the office is open."""
        clinic, zone = self._clinic, self._zone
        last_close = NEVER_OPEN
        for day in days_around(at, zone, before=LOOKBACK_DAYS):
            if day in clinic.holidays:
                continue
            for window in clinic.office_hours[day.weekday()]:
                opens = wall_instant(day, window.start, zone)
                closes = wall_instant(day, window.end, zone)
                if opens <= at < closes:
                    return None
                if closes <= at:
                    last_close = max(last_close, closes)
        return last_close
