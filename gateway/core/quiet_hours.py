"""When a category's quiet hours hold a message back, and until when.

Each category may name a daily window of the clinic's local time (``quiet_hours =
"20:00-08:00"``) in which its messages are not sent; an urgent one passes unless the
category says otherwise. The scheduler asks :meth:`QuietHours.release` as it queues a
message and arms its one timer for the answer, so nothing polls the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from zoneinfo import ZoneInfo

from gateway.config import CategoryConfig, DailyWindow
from gateway.core.localtime import days_around, wall_instant
from gateway.store.base import Priority, QueueItem


class QuietHours:
    def __init__(self, categories: Mapping[str, CategoryConfig], zone: ZoneInfo) -> None:
        self._windows: dict[str, tuple[DailyWindow, bool]] = {
            name: (c.quiet_hours, c.urgent_in_quiet_hours)
            for name, c in categories.items()
            if c.quiet_hours is not None
        }
        self._zone = zone

    def hold(self, item: QueueItem, at: float) -> float | None:
        """The end of the quiet hours ``at`` falls in for this item (the scheduler's
        ``Hold``); None when it may be sent at ``at``."""
        found = self._windows.get(item.category)
        if found is None:
            return None
        window, urgent_passes = found
        if item.priority is Priority.URGENT and urgent_passes:
            return None
        return window_end(window, at, self._zone)


def window_end(window: DailyWindow, at: float, zone: ZoneInfo) -> float | None:
    """The end of the window's span that holds ``at``, or None when ``at`` is outside."""
    for day in days_around(at, zone, before=1):  # a span from yesterday may reach today
        start = wall_instant(day, window.start, zone)
        end_day = day + timedelta(days=1) if window.crosses_midnight else day
        end = wall_instant(end_day, window.end, zone)
        if start <= at < end:
            return end
    return None
