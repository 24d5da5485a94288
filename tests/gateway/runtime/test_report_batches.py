"""Status reports: applied together when they come together, and logged per message at DEBUG."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from drivers.pdu import StatusReport
from drivers.types import StatusReportReceived
from gateway.store.base import MessageState
from gateway.store.sqlite import SqliteStore
from tests.gateway.runtime.conftest import RigFactory, poll_until

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def report(reference: int) -> StatusReportReceived:
    return StatusReportReceived(
        pdu_hex="00",
        report=StatusReport(
            kind="status_report",
            smsc=None,
            reference=reference,
            recipient="+15550009999",
            status=0,
            timestamp=WHEN,
            discharge=WHEN,
        ),
        location=None,
    )


async def test_reports_that_come_together_share_one_commit(make_rig: RigFactory) -> None:
    rig = await make_rig()
    store = rig.daemon.store
    assert isinstance(store, SqliteStore)
    events = rig.daemon.handles["alpha"].modem.events
    before = store.commit_count
    for reference in range(10):  # queued at once, as a burst read from the SIM would be
        events.put_nowait(report(200 + reference))

    async def all_kept() -> bool:
        return await store.unmatched_reports() >= 10

    await poll_until(all_kept, "the ten reports kept")
    assert store.commit_count - before <= 2  # before: one transaction per report


async def test_a_report_is_not_an_info_line(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await make_rig()
    caplog.set_level(logging.INFO, logger="gateway")
    sent = await rig.send("+15550001234", "report me")
    await rig.wait_state(sent.id, MessageState.DELIVERED)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert not [line for line in lines if "status report" in line], lines
