"""Quiet hours in the clinic's local time: windows across midnight and daylight-saving
changes, and the scheduler holding an item on its one timer until they end."""

from __future__ import annotations

from datetime import date

from gateway.config import CategoryConfig, DailyWindow
from gateway.core.localtime import wall_instant
from gateway.core.quiet_hours import QuietHours, window_end
from gateway.core.scheduler import Scheduler
from gateway.core.waiting import Waiting, WaitReason
from gateway.store.base import Priority, QueueItem
from tests.gateway.runtime.clinic import ZONE, local
from tests.gateway.runtime.test_scheduler import ManualClock

EVENING = DailyWindow(20 * 60, 8 * 60)


def item(message_id: str, category: str, priority: Priority = Priority.NORMAL) -> QueueItem:
    return QueueItem(message_id, priority, 0.0, None, None, b"h", 0, category)


def test_a_window_across_midnight_holds_both_sides_of_it() -> None:
    assert window_end(EVENING, local(2026, 6, 10, 21, 0), ZONE) == local(2026, 6, 11, 8, 0)
    assert window_end(EVENING, local(2026, 6, 11, 7, 59), ZONE) == local(2026, 6, 11, 8, 0)
    assert window_end(EVENING, local(2026, 6, 11, 8, 0), ZONE) is None
    assert window_end(EVENING, local(2026, 6, 11, 19, 59), ZONE) is None
    lunch = DailyWindow(12 * 60, 13 * 60)
    assert window_end(lunch, local(2026, 6, 11, 12, 30), ZONE) == local(2026, 6, 11, 13, 0)
    assert window_end(lunch, local(2026, 6, 11, 13, 30), ZONE) is None


def test_a_wall_time_in_the_spring_gap_is_the_moment_the_clocks_jump() -> None:
    # 2026-03-08 02:00 EST becomes 03:00 EDT (07:00 UTC): 02:30 never shows.
    jump = 1772953200.0  # 2026-03-08T07:00:00Z
    assert wall_instant(date(2026, 3, 8), 2 * 60 + 30, ZONE) == jump
    assert wall_instant(date(2026, 3, 8), 2 * 60, ZONE) == jump
    assert wall_instant(date(2026, 3, 8), 3 * 60, ZONE) == jump
    assert wall_instant(date(2026, 3, 8), 1 * 60 + 59, ZONE) == jump - 60


def test_a_wall_time_in_the_autumn_fold_is_its_first_showing() -> None:
    # 2026-11-01 02:00 EDT becomes 01:00 EST: 01:30 shows at 05:30 and again at 06:30 UTC.
    first = 1793511000.0  # 2026-11-01T05:30:00Z
    assert wall_instant(date(2026, 11, 1), 90, ZONE) == first
    window = DailyWindow(20 * 60, 90)  # quiet from 20:00 to 01:30
    assert window_end(window, local(2026, 11, 1, 1, 10), ZONE) == first
    # The second 01:10 (EST) comes after the window ended: it may be sent.
    assert window_end(window, local(2026, 11, 1, 1, 10, fold=1), ZONE) is None


def test_a_night_across_a_change_lasts_its_real_length() -> None:
    # 20:00-08:00 over the spring-forward night is 11 hours, over the autumn one 13.
    spring = window_end(EVENING, local(2026, 3, 7, 20, 0), ZONE)
    assert spring == local(2026, 3, 7, 20, 0) + 11 * 3600
    autumn = window_end(EVENING, local(2026, 10, 31, 20, 0), ZONE)
    assert autumn == local(2026, 10, 31, 20, 0) + 13 * 3600


def test_urgent_passes_unless_the_category_says_otherwise() -> None:
    quiet = QuietHours(
        {
            "marketing": CategoryConfig(quiet_hours=EVENING),
            "survey": CategoryConfig(quiet_hours=EVENING, urgent_in_quiet_hours=False),
            "care": CategoryConfig(),
        },
        ZONE,
    )
    night = local(2026, 6, 10, 23, 0)
    morning = local(2026, 6, 11, 8, 0)
    assert quiet.hold(item("a", "marketing"), night) == morning
    assert quiet.hold(item("b", "marketing", Priority.URGENT), night) is None
    assert quiet.hold(item("c", "survey", Priority.URGENT), night) == morning
    assert quiet.hold(item("d", "care"), night) is None


async def test_the_scheduler_holds_an_item_on_its_timer_and_releases_it_at_the_end() -> None:
    clock = ManualClock(local(2026, 6, 10, 23, 0))
    quiet = QuietHours({"marketing": CategoryConfig(quiet_hours=EVENING)}, ZONE)
    s = Scheduler(clock=clock, hold=quiet.hold)
    s.set_ready("m1", True)
    s.add(item("promo", "marketing"))
    s.add(item("result", "care"))
    morning = local(2026, 6, 11, 8, 0)
    assert s.waiting("promo") == Waiting(WaitReason.QUIET_HOURS, until=morning)
    assert s.waiting_counts()[WaitReason.QUIET_HOURS] == 1
    got = s.take("m1")
    assert got is not None
    assert got.id == "result"
    assert s.take("m1") is None
    clock.now = morning - 1
    s.refresh()
    assert s.take("m1") is None
    clock.now = morning
    s.refresh()
    released = s.take("m1")
    assert released is not None
    assert released.id == "promo"
    assert s.waiting_counts()[WaitReason.QUIET_HOURS] == 0
    s.close()


async def test_a_send_at_inside_the_quiet_hours_waits_for_their_end() -> None:
    clock = ManualClock(local(2026, 6, 10, 12, 0))
    quiet = QuietHours({"reminder": CategoryConfig(quiet_hours=EVENING)}, ZONE)
    s = Scheduler(clock=clock, hold=quiet.hold)
    late = QueueItem(
        "late", Priority.NORMAL, local(2026, 6, 10, 22, 0), None, None, b"h", 0, "reminder"
    )
    s.add(late)
    assert s.waiting("late") == Waiting(WaitReason.QUIET_HOURS, until=local(2026, 6, 11, 8, 0))
    assert s.held_until(late) is None  # at noon it could go; at 22:00 it may not
    s.remove("late")
    assert s.waiting_counts()[WaitReason.QUIET_HOURS] == 0
    s.close()
