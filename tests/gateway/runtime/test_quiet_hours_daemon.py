"""Quiet hours end to end: the daemon over HTTP, simulated modems on ptys, the clinic's
clock set to the evening (tests.support.SteppedClock), never slept out."""

from __future__ import annotations

from types import MappingProxyType

from gateway.config import DEFAULT_CATEGORIES, CategoryConfig, ClinicConfig, DailyWindow
from gateway.core.waiting import Waiting, WaitReason
from gateway.store.base import MessageState
from tests.gateway.runtime.clinic import PATIENT, ZONE_NAME, call, local, token
from tests.gateway.runtime.conftest import RigFactory, poll_until
from tests.support import SteppedClock

CLINIC = ClinicConfig(timezone=ZONE_NAME)
LEAD = 0.3  # seconds of real time between the clock step and the end of the quiet hours


def quiet(window: DailyWindow) -> MappingProxyType[str, CategoryConfig]:
    return MappingProxyType({**DEFAULT_CATEGORIES, "marketing": CategoryConfig(quiet_hours=window)})


async def test_marketing_waits_out_the_quiet_hours_while_urgent_and_care_go_at_once(
    make_rig: RigFactory,
) -> None:
    clock = SteppedClock(local(2026, 6, 10, 21, 0))  # a Wednesday evening in June (EDT)
    rig = await make_rig(
        serve_http=True,
        clock=clock,
        categories=quiet(DailyWindow(20 * 60, 8 * 60)),
        clinic=CLINIC,
    )
    secret = await token(rig)
    sim = rig.sims["alpha"]
    status, held = await call(
        rig,
        secret,
        "POST",
        "/v1/messages",
        json={"to": PATIENT, "body": "Flu shots are in!", "category": "marketing"},
    )
    assert status == 202
    assert held["category"] == "marketing"
    _, urgent = await call(
        rig,
        secret,
        "POST",
        "/v1/messages",
        json={
            "to": PATIENT,
            "body": "Clinic closed tomorrow (flood)",
            "category": "marketing",
            "priority": "urgent",
        },
    )
    _, care = await call(
        rig, secret, "POST", "/v1/messages", json={"to": PATIENT, "body": "Your results are in"}
    )
    assert care["category"] == "care"
    await rig.wait_state(urgent["id"], MessageState.DELIVERED)
    await rig.wait_state(care["id"], MessageState.DELIVERED)

    status, shown = await call(rig, secret, "GET", f"/v1/messages/{held['id']}")
    assert status == 200
    assert shown["state"] == "queued"
    # 08:00 EDT the next morning is 12:00 UTC.
    assert shown["waiting"] == {
        "reason": "quiet_hours",
        "modem": None,
        "until": "2026-06-11T12:00:00.000Z",
    }
    assert rig.daemon.scheduler is not None
    assert rig.daemon.scheduler.waiting_counts()[WaitReason.QUIET_HOURS] == 1
    assert sorted(s.submit.text for s in sim.sent) == [
        "Clinic closed tomorrow (flood)",
        "Your results are in",
    ]

    # The night passes: the clock steps to just before 08:00 and the scheduler is told of
    # the step (as after any clock change); its one timer then fires on its own at 08:00.
    clock.set(local(2026, 6, 11, 8, 0) - LEAD)
    rig.daemon.scheduler.refresh()
    _, still = await call(rig, secret, "GET", f"/v1/messages/{held['id']}")
    assert still["waiting"]["reason"] == "quiet_hours"
    done = await rig.wait_state(held["id"], MessageState.DELIVERED)
    assert done.sent_at is not None
    assert done.sent_at >= local(2026, 6, 11, 8, 0)
    assert sim.sent[-1].submit.text == "Flu shots are in!"


async def test_urgent_waits_too_where_the_category_says_so(make_rig: RigFactory) -> None:
    clock = SteppedClock(local(2026, 6, 10, 23, 0))
    strict = CategoryConfig(quiet_hours=DailyWindow(22 * 60, 7 * 60), urgent_in_quiet_hours=False)
    rig = await make_rig(
        serve_http=True,
        clock=clock,
        categories=MappingProxyType({**DEFAULT_CATEGORIES, "survey": strict}),
        clinic=CLINIC,
    )
    secret = await token(rig)
    _, urgent = await call(
        rig,
        secret,
        "POST",
        "/v1/messages",
        json={"to": PATIENT, "body": "How did we do?", "category": "survey", "priority": "urgent"},
    )
    _, shown = await call(rig, secret, "GET", f"/v1/messages/{urgent['id']}")
    assert shown["waiting"]["reason"] == "quiet_hours"
    assert shown["waiting"]["until"] == "2026-06-11T11:00:00.000Z"  # 07:00 EDT


async def test_a_window_across_the_spring_forward_night_ends_when_the_clocks_jump(
    make_rig: RigFactory,
) -> None:
    # 2026-03-08: New York's clocks go from 02:00 EST to 03:00 EDT, so 02:30 never comes;
    # quiet hours "until 02:30" end at the jump, 07:00 UTC, not an hour late or early.
    clock = SteppedClock(local(2026, 3, 8, 1, 30))
    rig = await make_rig(
        serve_http=True,
        clock=clock,
        categories=quiet(DailyWindow(22 * 60, 2 * 60 + 30)),
        clinic=CLINIC,
    )
    secret = await token(rig)
    _, held = await call(
        rig,
        secret,
        "POST",
        "/v1/messages",
        json={"to": PATIENT, "body": "Spring newsletter", "category": "marketing"},
    )
    _, shown = await call(rig, secret, "GET", f"/v1/messages/{held['id']}")
    assert shown["waiting"] == {
        "reason": "quiet_hours",
        "modem": None,
        "until": "2026-03-08T07:00:00.000Z",
    }
    clock.set(local(2026, 3, 8, 3, 0) - LEAD)  # 01:59:59.7 EST: the jump is 0.3 s away
    assert rig.daemon.scheduler is not None
    rig.daemon.scheduler.refresh()
    await rig.wait_state(held["id"], MessageState.DELIVERED)


async def test_a_message_queued_before_the_evening_waits_if_it_is_still_in_line_at_20(
    make_rig: RigFactory,
) -> None:
    """Due when queued, but no modem free until the quiet hours began: the worker holds it."""
    clock = SteppedClock(local(2026, 6, 10, 19, 59))
    rig = await make_rig(
        serve_http=True,
        clock=clock,
        categories=quiet(DailyWindow(20 * 60, 8 * 60)),
        clinic=CLINIC,
    )
    dispatcher = rig.daemon.dispatcher
    assert dispatcher is not None
    handle = rig.daemon.handles["alpha"]
    handle.held_until = clock() + 3600  # out of rotation: the message waits in line
    dispatcher.update_ready(handle)
    secret = await token(rig)
    _, late = await call(
        rig,
        secret,
        "POST",
        "/v1/messages",
        json={"to": PATIENT, "body": "Late offer", "category": "marketing"},
    )
    _, shown = await call(rig, secret, "GET", f"/v1/messages/{late['id']}")
    assert shown["waiting"]["reason"] != "quiet_hours"
    clock.set(local(2026, 6, 10, 20, 1))
    handle.held_until = 0.0
    dispatcher.update_ready(handle)

    async def held() -> bool:
        _, now = await call(rig, secret, "GET", f"/v1/messages/{late['id']}")
        return now["waiting"] is not None and now["waiting"]["reason"] == "quiet_hours"

    await poll_until(held, "the late message held for the quiet hours")
    assert rig.sims["alpha"].sent == []


async def test_a_held_message_is_still_held_after_a_restart(make_rig: RigFactory) -> None:
    clock = SteppedClock(local(2026, 6, 10, 21, 0))
    categories = quiet(DailyWindow(20 * 60, 8 * 60))
    rig = await make_rig(clock=clock, categories=categories, clinic=CLINIC)
    held = await rig.send(PATIENT, "Newsletter", category="marketing")
    await rig.daemon.stop()
    rig2 = await make_rig(
        (("bravo", "generic"),), clock=clock, categories=categories, clinic=CLINIC
    )
    scheduler = rig2.daemon.scheduler
    assert scheduler is not None
    assert scheduler.waiting(held.id) == Waiting(
        WaitReason.QUIET_HOURS, until=local(2026, 6, 11, 8, 0)
    )
    assert rig2.sims["bravo"].sent == []
