"""Rate windows through the real daemon: a daily cap survives a restart, and a queued
message says why it waits (the modem's window, its cap, its hold)."""

from __future__ import annotations

import pytest

from gateway.config import RateConfig
from gateway.core.ratelimit import DAY, MINUTE
from gateway.core.waiting import Waiting, WaitReason
from gateway.store.base import MessageState
from tests.gateway.runtime.conftest import Rig, RigFactory, poll_until

SENT = (MessageState.SENT, MessageState.DELIVERED)
SLACK = 5.0  # seconds: between the limiter counting a send and the store recording it


async def _waiting_for(rig: Rig, message_id: str, reason: WaitReason) -> Waiting:
    async def check() -> Waiting | None:
        found = rig.daemon.gateway.waiting(message_id)
        return found if found is not None and found.reason is reason else None

    result: Waiting = await poll_until(check, f"{message_id} waiting for {reason.value}")
    return result


def _waiting_gauge(rig: Rig, reason: WaitReason) -> float | None:
    return rig.daemon.metrics.registry.get_sample_value(
        "smsgw_messages_waiting", {"reason": reason.value}
    )


async def test_a_daily_cap_survives_a_restart(make_rig: RigFactory) -> None:
    cap = RateConfig(per_minute=0, per_day=3)
    rig = await make_rig(rate=cap)
    first = [await rig.send(f"+1555123100{i}", "reminder") for i in range(3)]
    sent = [await rig.wait_state(m.id, *SENT) for m in first]
    extra = [await rig.send(f"+1555123200{i}", "over the cap") for i in range(2)]
    for m in extra:
        await _waiting_for(rig, m.id, WaitReason.DAILY_CAP)
    assert _waiting_gauge(rig, WaitReason.DAILY_CAP) == 2
    await rig.daemon.stop()
    await rig.sims["alpha"].stop()

    again = await make_rig(rate=cap)
    oldest = min(m.sent_at or 0.0 for m in sent)
    for m in extra:
        waiting = await _waiting_for(again, m.id, WaitReason.DAILY_CAP)
        assert waiting.modem == "alpha"
        assert waiting.until == pytest.approx(oldest + DAY, abs=SLACK)
        assert (await again.message(m.id)).state is MessageState.QUEUED
    assert again.sims["alpha"].sent == []
    [alpha] = again.daemon.gateway.modems()
    assert alpha.waiting is not None
    assert alpha.waiting.reason is WaitReason.DAILY_CAP
    assert _waiting_gauge(again, WaitReason.DAILY_CAP) == 2


async def test_a_message_waits_for_the_minute_window(make_rig: RigFactory) -> None:
    rig = await make_rig(rate=RateConfig(per_minute=1))
    first = await rig.send("+15551230101", "goes now")
    done = await rig.wait_state(first.id, *SENT)
    second = await rig.send("+15551230102", "waits a minute")
    waiting = await _waiting_for(rig, second.id, WaitReason.RATE_WINDOW)
    assert waiting.modem == "alpha"
    assert waiting.until == pytest.approx((done.sent_at or 0.0) + MINUTE, abs=SLACK)
    assert _waiting_gauge(rig, WaitReason.RATE_WINDOW) == 1
    assert _waiting_gauge(rig, WaitReason.DAILY_CAP) == 0
    [alpha] = rig.daemon.gateway.modems()
    assert alpha.waiting == waiting


async def test_a_message_waits_for_a_held_modem(make_rig: RigFactory) -> None:
    rig = await make_rig()
    rig.sims["alpha"].fail_sends(10, count=10)  # call barred: a SIM fault holds the modem
    m = await rig.send("+15551230103", "waits for the hold")
    waiting = await _waiting_for(rig, m.id, WaitReason.MODEM_HELD)
    alpha = rig.daemon.handles["alpha"]
    assert waiting.modem == "alpha"
    assert waiting.until == alpha.held_until
    [status] = rig.daemon.gateway.modems()
    assert status.waiting == waiting
    assert _waiting_gauge(rig, WaitReason.MODEM_HELD) == 1


async def test_a_modem_that_lost_its_network_says_so(make_rig: RigFactory) -> None:
    rig = await make_rig()
    alpha = rig.daemon.handles["alpha"]

    async def polled() -> bool:
        return alpha.health is not None

    await poll_until(polled, "alpha's first health poll")
    rig.sims["alpha"].lose_registration()

    async def unregistered() -> Waiting | None:
        [status] = rig.daemon.gateway.modems()
        return status.waiting

    waiting = await poll_until(unregistered, "alpha not registered")
    assert (waiting.reason, waiting.modem) == (WaitReason.NOT_REGISTERED, "alpha")
    assert waiting.until is not None  # when the supervisor probes it next
    rig.sims["alpha"].restore_registration()

    async def registered() -> bool:
        [status] = rig.daemon.gateway.modems()
        return status.waiting is None

    await poll_until(registered, "alpha registered again")
