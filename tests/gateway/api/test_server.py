"""Running the API embedded (start_api / stop) and what its access log leaves out."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from aiohttp import web

from gateway.core.service import GatewayService
from gateway.http import Feature, Route, start_api
from gateway.http.features import API_FEATURES
from gateway.store.base import Scope
from tests.gateway.api.conftest import Api


async def test_start_api_serves_and_stops(service: GatewayService) -> None:
    async def extra(request: web.Request) -> web.Response:
        return web.json_response({"extra": True})

    server = await start_api(
        service,
        "127.0.0.1",
        0,
        shutdown_timeout=1.0,
        features=(
            *API_FEATURES,
            Feature("extra", (Route("GET", "/extra", extra, Scope.ADMIN, documented=False),)),
        ),
    )
    port = server.port
    try:
        assert port > 0
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as resp,
        ):
            assert resp.status == 200
            assert await resp.json() == {"status": "ok"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/extra") as resp,
        ):
            # An admin route: the API's middleware asks for a key.
            assert (resp.status, (await resp.json())["error"]["code"]) == (401, "unauthorized")
    finally:
        await server.stop()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(f"http://127.0.0.1:{port}/healthz"):
                pass


async def test_access_log_omits_query_strings_and_numbers(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    await api.call("GET", "/v1/messages?to=%2B15551234567&limit=5")
    await api.call("GET", "/v1/messages/+15551234567")
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 2
    assert '"GET /v1/messages" 200' in lines[0]
    assert "5551234567" not in "".join(lines)
    assert "1234567" not in "".join(lines)
    sent = await api.send()
    await api.call("GET", f"/v1/messages/{sent.body['id']}")
    assert sent.body["id"] in caplog.records[-1].getMessage()  # our ids stay readable
