"""``/healthz`` and ``/readyz``."""

from __future__ import annotations

from tests.gateway.api.conftest import Api


async def test_health_and_readiness_need_no_key(api: Api, double_api: Api) -> None:
    assert (await api.call("GET", "/healthz", key=None)).body == {"status": "ok"}
    # The daemon without a modem is alive but not ready.
    not_ready = await api.call("GET", "/readyz", key=None)
    assert (not_ready.status, not_ready.code) == (503, "unavailable")
    ready = await double_api.call("GET", "/readyz", key=None)
    assert (ready.status, ready.body) == (200, {"status": "ready"})
