"""A queue held by a daily cap explains itself over HTTP: the message, the modem, the
status page's summary and /metrics each say daily_cap (and until when)."""

from __future__ import annotations

from typing import Any

import aiohttp

from gateway.config import RateConfig
from gateway.core.waiting import WaitReason
from gateway.store.base import MessageState, Scope
from tests.gateway.runtime.conftest import RigFactory, poll_until

SENT = (MessageState.SENT, MessageState.DELIVERED)


async def test_a_message_held_by_a_daily_cap_says_so(make_rig: RigFactory) -> None:
    rig = await make_rig(rate=RateConfig(per_minute=0, per_day=1), serve_http=True)
    url = rig.daemon.api_url
    assert url is not None
    _, token = await rig.daemon.store.create_api_key("tech", frozenset({Scope.ADMIN}))
    headers = {"Authorization": f"Bearer {token}"}
    first = await rig.send("+15551230001", "goes out")
    await rig.wait_state(first.id, *SENT)
    held = [await rig.send(f"+1555123010{i}", "over the cap") for i in range(2)]

    async with aiohttp.ClientSession(headers=headers) as http:

        async def get(path: str) -> Any:
            async with http.get(url + path) as r:
                assert r.status == 200, (path, await r.text())
                return await (r.json() if path != "/metrics" else r.text())

        async def both_capped() -> bool:
            status = await get("/v1/status")
            return bool(status["queue"]["waiting"] == {WaitReason.DAILY_CAP.value: 2})

        await poll_until(both_capped, "two messages waiting for the daily cap")
        message = await get(f"/v1/messages/{held[0].id}")
        assert message["state"] == "queued"
        assert message["waiting"]["reason"] == "daily_cap"
        assert message["waiting"]["modem"] == "alpha"
        assert message["waiting"]["until"] is not None
        [alpha] = (await get("/v1/modems"))["modems"]
        assert alpha["waiting"]["reason"] == "daily_cap"
        assert alpha["waiting"]["until"] == message["waiting"]["until"]
        metrics = await get("/metrics")
        assert 'smsgw_modem_waiting{modem="alpha",reason="daily_cap"} 1.0' in metrics
        assert 'smsgw_modem_waiting{modem="alpha",reason="rate_window"} 0.0' in metrics
