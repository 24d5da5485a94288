"""Office hours: open or closed, and the closed period a time falls in."""

from __future__ import annotations

from datetime import date

from gateway.config import ClinicConfig, DailyWindow
from gateway.core.office_hours import OfficeHours
from tests.gateway.runtime.clinic import ZONE_NAME, local

DAY = (DailyWindow(8 * 60, 17 * 60),)
WEEKDAYS = (DAY, DAY, DAY, DAY, DAY, (), ())  # Monday to Friday, 08:00-17:00


def office(*holidays: date) -> OfficeHours:
    return OfficeHours(
        ClinicConfig(timezone=ZONE_NAME, office_hours=WEEKDAYS, holidays=frozenset(holidays))
    )


def test_open_in_hours_and_closed_since_the_last_closing_otherwise() -> None:
    hours = office()
    assert hours.closed_since(local(2026, 6, 10, 10, 0)) is None  # Wednesday morning
    wednesday_close = local(2026, 6, 10, 17, 0)
    assert hours.closed_since(local(2026, 6, 10, 17, 0)) == wednesday_close
    assert hours.closed_since(local(2026, 6, 10, 22, 0)) == wednesday_close
    assert hours.closed_since(local(2026, 6, 11, 7, 59)) == wednesday_close
    assert hours.closed_since(local(2026, 6, 11, 22, 0)) == local(2026, 6, 11, 17, 0)


def test_a_weekend_and_a_holiday_are_one_closed_period() -> None:
    hours = office(date(2026, 12, 25))  # a Friday
    thursday_close = local(2026, 12, 24, 17, 0)
    assert hours.closed_since(local(2026, 12, 25, 10, 0)) == thursday_close
    assert hours.closed_since(local(2026, 12, 27, 12, 0)) == thursday_close
    assert hours.closed_since(local(2026, 12, 28, 9, 0)) is None
