"""A failed health poll says why in the log: the exception's class and a stable code,
even for a bare TimeoutError, whose text is empty."""

from __future__ import annotations

import logging

import pytest

from gateway.fleet.supervisor import MISSED_HEALTH_POLL
from tests.gateway.runtime.conftest import RigFactory, poll_until


async def test_a_health_poll_past_its_deadline_logs_class_and_code(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.fleet.supervisor")
    # The poll's own bound ends before the driver's command deadline: a TimeoutError.
    # Set before start, so that no poll already in flight runs under another bound.
    rig = await make_rig(health_interval=0.1, health_deadline=0.05)
    rig.sims["alpha"].hang()

    async def failed() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.getMessage().startswith("health poll of modem alpha failed")
        ]

    [line, *_] = await poll_until(failed, "a failed health poll in the log")
    assert line == (
        "health poll of modem alpha failed: health_timeout (TimeoutError: no answer within 0.05 s)"
    )


async def test_a_probe_of_a_held_modem_past_its_deadline_logs_class_and_code(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.fleet.supervisor")
    rig = await make_rig(probe_initial=0.05, health_deadline=0.05)
    assert rig.daemon.fleet is not None
    rig.sims["alpha"].hang()
    rig.daemon.fleet.supervisors["alpha"].fault(MISSED_HEALTH_POLL)

    async def failed() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.getMessage().startswith("probe of modem alpha failed")
        ]

    [line, *_] = await poll_until(failed, "a failed probe in the log")
    assert line == (
        "probe of modem alpha failed: health_timeout (TimeoutError: no answer within 0.05 s)"
    )
