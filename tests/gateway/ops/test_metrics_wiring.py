"""Every counter the alerts and the dashboard read is incremented by the running daemon.

A metric that is exported but never moves makes its alert a silent promise; these
tests drive a real daemon on simulated modems and read its ``/metrics``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.gateway.integrations.conftest import GatewayFactory, Subscriber, hook
from tests.gateway.ops.test_metrics import samples
from tests.support import poll_until

PATIENT = "+15557654321"
WEBHOOKS = "smsgw_webhook_deliveries_total"
COUNT_WITHIN = 15.0  # seconds for the deliveries and their retries to be recorded


@pytest.fixture
async def make_gateway(tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    factory = GatewayFactory(tmp_path)
    try:
        yield factory
    finally:
        await factory.close()


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as response:
        assert response.status == 200
        return samples(await response.text())


async def test_webhook_deliveries_are_counted_by_outcome(make_gateway: GatewayFactory) -> None:
    flaky, gone = Subscriber(script=["fail"]), Subscriber(default="fail")
    await flaky.start()
    await gone.start()
    try:
        gateway = await make_gateway(
            webhooks=[
                hook(flaky.url, "message.sent", name="flaky"),
                hook(gone.url, "message.sent", name="gone", max_attempts=1),
            ]
        )
        await gateway.send(PATIENT, "see you at 10")
        await flaky.wait_ok(1)
        wanted = {"delivered": 1.0, "failed": 1.0, "abandoned": 1.0}
        found: dict[str, float | None] = {}

        async def counted() -> bool:
            now = await scrape(gateway.url)
            found.update({o: now.get((WEBHOOKS, (("outcome", o),))) for o in wanted})
            return found == wanted

        await poll_until(counted, "webhook deliveries counted by outcome", COUNT_WITHIN)
    finally:
        await flaky.stop()
        await gone.stop()
