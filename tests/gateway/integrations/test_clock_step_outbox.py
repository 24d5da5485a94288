"""The webhook outbox's purge is held on a clock step like the retention purge: rows
delivered while the clock was 100 days behind stay until the clock is confirmed."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from gateway.webhooks.delivery import WebhookSettings
from tests.gateway.integrations.conftest import (
    FAST_WEBHOOKS,
    GatewayFactory,
    Subscriber,
    hook,
)
from tests.gateway.runtime.test_clock_steps import DAY, SteppedClock
from tests.support import poll_until

PATIENT = "+14155550188"


async def test_the_outbox_purge_waits_for_a_confirmed_clock(
    make_gateway: GatewayFactory, subscriber: Subscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SteppedClock(-100 * DAY)
    monkeypatch.setattr(time, "time", clock)  # the machine's clock, as the store reads it
    settings: WebhookSettings = replace(FAST_WEBHOOKS, purge_interval=0.05, retention=DAY)
    gw = await make_gateway(
        webhooks=[hook(subscriber.url, "message.sent")], webhook_settings=settings, clock=clock
    )
    await gw.send(PATIENT, "Your prescription is ready")
    await subscriber.wait_ok(1)
    store = gw.daemon.store

    async def delivered_rows() -> int:
        return (await store.delivery_counts())["delivered"]

    assert await poll_until(delivered_rows, "the delivery recorded", 15.0) == 1
    guard = gw.daemon.clock_guard
    clock.offset = 0.0  # set right: 100 days forward
    held = guard.held

    async def purges_held() -> bool:
        return guard.held >= held + 3

    await poll_until(purges_held, "outbox purges held", 15.0)
    assert await delivered_rows() == 1  # the row from "100 days ago" is still there

    await gw.daemon.gateway.confirm_clock("technician")

    async def purged() -> bool:
        return await delivered_rows() == 0

    await poll_until(purged, "the row purged once the clock is confirmed", 15.0)
