"""Wall-clock times of the clinic's zone turned into instants, across daylight-saving changes.

A rule such as "quiet from 20:00" names a wall-clock time, and on the two nights a year
the clocks change, a wall time may not exist (02:30 in a spring-forward gap) or happen
twice (01:30 in an autumn fold). One reading serves every rule: a wall time on a date is
the *first instant at which the clinic's clock reads that time or later*. In a gap that is
the instant the clocks jump; in a fold it is the first of the two.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def wall_instant(day: date, minute: int, zone: ZoneInfo) -> float:
    """POSIX seconds of the first instant the clock in ``zone`` reads ``minute`` on ``day``."""
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    first = wall.replace(tzinfo=zone, fold=0)
    if _reads(first.timestamp(), zone) == wall:
        return first.timestamp()  # exists (in a fold, fold=0 is the earlier of the two)
    # In a gap: fold=1 lands before the jump, fold=0 after it; the jump lies between.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(first.timestamp())
    while low < high:
        mid = (low + high) // 2
        if _reads(mid, zone) >= wall:
            high = mid
        else:
            low = mid + 1
    return float(high)


def local_date(at: float, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(at, zone).date()


def days_around(at: float, zone: ZoneInfo, before: int, after: int = 0) -> list[date]:
    """The local dates from ``before`` days before ``at``'s to ``after`` days after it."""
    today = local_date(at, zone)
    return [today + timedelta(days=offset) for offset in range(-before, after + 1)]


def _reads(at: float, zone: ZoneInfo) -> datetime:
    """What the clock in ``zone`` shows at ``at`` (naive)."""
    return datetime.fromtimestamp(at, UTC).astimezone(zone).replace(tzinfo=None)
