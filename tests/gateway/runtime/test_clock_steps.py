"""Clock steps: a gateway run 100 days behind whose clock is then set right purges
nothing and expires nothing until the clock is confirmed; readiness says why.

The wall clock is the daemon's own ``clock`` (real time plus an offset the test moves);
the monotonic clock is the machine's, so a step shows as the two disagreeing.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest

from gateway.cli import main as cli
from gateway.core.clock_guard import ClockGuard
from gateway.crypto import KeyRing
from gateway.store.base import MessageState, Scope
from gateway.store.sqlite import SqliteStore
from tests.gateway.runtime.conftest import RigFactory, poll_until

DAY = 86400.0
PATIENT = "+15551230077"


REAL_TIME = time.time


class SteppedClock:
    """Real time, offset by what the test says."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return REAL_TIME() + self.offset


async def test_a_stepped_clock_purges_and_expires_nothing_until_confirmed(
    make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SteppedClock(-100 * DAY)
    # The machine's wall clock, as the store's timestamps read it too (monotonic is real).
    monkeypatch.setattr(time, "time", clock)
    rig = await make_rig(clock=clock, retention_days=30, purge_interval=0.05)
    delivered = await rig.send(PATIENT, "Your results are in")
    await rig.wait_state(delivered.id, MessageState.DELIVERED)
    # Due in an hour by the (wrong) clock, and valid for a minute after that.
    scheduled = await rig.send(PATIENT, "See you tomorrow", send_at=clock() + 3600, ttl=60)
    guard = rig.daemon.clock_guard
    gateway = rig.daemon.gateway
    assert gateway.not_ready_reason() is None

    clock.offset = 0.0  # the clock is set right: 100 days forward at once
    held = guard.held

    async def purges_held() -> bool:
        return guard.held >= held + 3

    await poll_until(purges_held, "purges held on the stepped clock")
    reason = gateway.not_ready_reason()
    assert reason is not None
    assert "stepped forward" in reason
    before = guard.held
    dispatcher = rig.daemon.dispatcher
    assert dispatcher is not None
    dispatcher.scheduler.refresh()  # what the hour's timer would do: expiry due

    async def expiry_held() -> bool:
        return guard.held > before + 1  # the expiry batch looked, was held, looked again

    await poll_until(expiry_held, "expiry held")
    assert (await rig.message(delivered.id)).state is MessageState.DELIVERED  # not purged
    assert (await rig.message(scheduled.id)).state is MessageState.QUEUED  # not expired

    cleared = await gateway.confirm_clock("technician")
    assert cleared is not None
    assert gateway.not_ready_reason() is None
    await rig.wait_state(scheduled.id, MessageState.EXPIRED)

    async def purged() -> bool:
        return await rig.daemon.store.get_message(delivered.id) is None

    await poll_until(purged, "the delivered message purged once the clock is confirmed")
    [entry] = [
        e
        for e in (await rig.daemon.store.list_audit(cursor=None, limit=50)).items
        if e.action == "clock.confirm"
    ]
    assert entry.actor == "technician"


async def test_readiness_says_why_and_smsgw_clock_confirm_clears_it(
    make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = SteppedClock(0.0)
    monkeypatch.setattr(time, "time", clock)
    rig = await make_rig(clock=clock, serve_http=True)
    url = rig.daemon.api_url
    assert url is not None
    _, token = await rig.daemon.store.create_api_key("tech", frozenset({Scope.ADMIN}))
    clock.offset = 100 * DAY

    async def readyz() -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as resp:
            return resp.status, await resp.text()

    status, body = await readyz()
    assert status == 503
    assert "stepped forward" in json.loads(body)["error"]["message"]
    argv = ["clock", "confirm", "--url", url, "--key", token]
    assert await asyncio.to_thread(cli.main, argv) == cli.EXIT_OK  # runs its own loop
    assert "clock confirmed; cleared: the wall clock stepped forward" in capsys.readouterr().out
    assert (await readyz())[0] == 200


def test_a_step_back_to_where_it_was_is_a_sane_clock() -> None:
    wall = SteppedClock(0.0)
    guard = ClockGuard(wall=wall)
    assert guard.doubt() is None
    wall.offset = -100 * DAY
    reason = guard.doubt()
    assert reason is not None
    assert "stepped back" in reason
    assert guard.hold("purge")
    wall.offset = 0.0
    assert guard.doubt() is None
    assert not guard.hold("purge")


async def test_at_start_a_clock_far_past_the_store_is_doubted(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "smsgw.db", KeyRing.create(tmp_path / "smsgw.key"))
    await store.open()
    try:
        assert await store.newest_record_at() is None
        guard = ClockGuard()
        assert guard.check_store(None) is None
        assert guard.check_store(time.time() - 100 * DAY) is not None  # run 100 days behind
        assert "days past the newest record" in (guard.doubt() or "")
        assert ClockGuard().check_store(time.time() + 100 * DAY) is not None  # ahead
        assert ClockGuard().check_store(time.time() - 3600) is None
        guard.confirm()
        assert guard.doubt() is None
    finally:
        await store.close()


async def test_purges_and_expiries_wait_while_the_store_is_read_for_the_clock_check() -> None:
    """At start the store's newest record is read in the background (a scan of a large
    store): until it is in, nothing that trusts the clock runs."""
    guard = ClockGuard()
    guard.check_store_later()
    assert guard.checking
    assert guard.hold("retention purge")
    waiting = asyncio.create_task(guard.trusted("expiry"))
    await asyncio.sleep(0)  # let it start waiting (one loop turn, not a wait for time)
    assert not waiting.done()
    assert guard.check_store(time.time() - 3600) is None
    await asyncio.wait_for(waiting, 5.0)
    assert not guard.hold("retention purge")
