"""Inbound, modems, events, health and readiness."""

from __future__ import annotations

import logging
import time

import pytest

from drivers.types import Health, Identity, Registration
from gateway.core.service import ModemStatus
from gateway.store.base import InboundPart, Store
from tests.gateway.api.conftest import Api
from tests.gateway.api.service_double import ServiceDouble


async def _receive(store: Store, sender: str, text: str, modem: str, n: int) -> str:
    result = await store.add_inbound(
        InboundPart(
            modem=modem,
            sender=sender,
            text=text,
            encoding="gsm7",
            received_at=time.time(),
            sent_at=time.time() - 5,
            dedupe_key=f"{modem}-{n}",
        )
    )
    assert result.inbound is not None
    return result.inbound.id


async def test_inbound_list_get_and_filters(api: Api, store: Store) -> None:
    ids = [
        await _receive(store, "+15551230010", f"reply {n}", "modem-a" if n % 2 else "modem-b", n)
        for n in range(7)
    ]
    other = await _receive(store, "+15551230099", "other", "modem-a", 99)
    one = await api.call("GET", f"/v1/inbound/{ids[0]}", key="read")
    assert one.status == 200
    assert (one.body["from"], one.body["text"], one.body["modem"]) == (
        "+15551230010",
        "reply 0",
        "modem-b",
    )
    assert one.body["complete"] is True

    seen: list[str] = []
    cursor = ""
    while True:
        page = await api.call("GET", f"/v1/inbound?limit=3&cursor={cursor}", key="read")
        seen += [i["id"] for i in page.body["items"]]
        if page.body["next_cursor"] is None:
            break
        cursor = page.body["next_cursor"]
    assert sorted(seen) == sorted([*ids, other])
    assert len(seen) == len(set(seen))

    by_sender = await api.call("GET", "/v1/inbound?from=555-123-0099", key="read")
    assert [i["id"] for i in by_sender.body["items"]] == [other]
    named = await _receive(store, "CLINIC", "from a named sender", "modem-a", 100)
    by_name = await api.call("GET", "/v1/inbound?from=CLINIC", key="read")
    assert [i["id"] for i in by_name.body["items"]] == [named]
    by_modem = await api.call("GET", "/v1/inbound?modem=modem-b&limit=100", key="read")
    assert {i["modem"] for i in by_modem.body["items"]} == {"modem-b"}
    assert len(by_modem.body["items"]) == 4


async def test_modems_of_the_daemon(api: Api) -> None:
    reply = await api.call("GET", "/v1/modems", key="read")
    assert (reply.status, reply.body) == (200, {"modems": []})


async def test_modems(double_api: Api, double: ServiceDouble) -> None:
    double.modem_list = [
        ModemStatus(
            name="front-desk",
            port="/dev/serial/by-id/usb-Quectel_EC25-if02",
            profile="quectel",
            state="ready",
            reason="initialised",
            tags=("local",),
            identity=Identity("Quectel", "EC25", "EC25EFAR06A06M4G", "867000000000001", None, None),
            health=Health(-71, 21, Registration.HOME, "lte", "Carrier", "ready", 3, 50),
            sent_total=12,
            failed_total=1,
            last_error="cms_500",
            last_seen=time.time(),
        ),
        ModemStatus(
            "spare", "/dev/ttyUSB9", "auto", "down", "unplugged", (), None, None, 0, 0, None, None
        ),
    ]
    reply = await double_api.call("GET", "/v1/modems", key="read")
    assert reply.status == 200
    first, second = reply.body["modems"]
    assert first["health"]["registration"] == "home"
    assert first["identity"]["model"] == "EC25"
    assert (second["state"], second["identity"], second["last_seen"]) == ("down", None, None)


async def test_events_need_admin_and_page(api: Api, store: Store) -> None:
    for n in range(5):
        await store.add_event("modem.down", "modem-a", {"reason": f"r{n}"})
    kinds: list[str] = []
    cursor = ""
    while True:
        reply = await api.call("GET", f"/v1/events?limit=2&cursor={cursor}", key="admin")
        assert reply.status == 200
        kinds += [e["detail"]["reason"] for e in reply.body["items"]]
        cursor = reply.body["next_cursor"]
        if cursor is None:
            break
    assert sorted(kinds) == [f"r{n}" for n in range(5)]


async def test_health_and_readiness_need_no_key(api: Api, double_api: Api) -> None:
    assert (await api.call("GET", "/healthz", key=None)).body == {"status": "ok"}
    # The daemon without a modem is alive but not ready.
    not_ready = await api.call("GET", "/readyz", key=None)
    assert (not_ready.status, not_ready.code) == (503, "unavailable")
    ready = await double_api.call("GET", "/readyz", key=None)
    assert (ready.status, ready.body) == (200, {"status": "ready"})


async def test_a_probe_while_not_ready_logs_no_error(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """Kubernetes or systemd probes every few seconds: "not ready" is a state, not a fault."""
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            assert (await api.call("GET", "/readyz", key=None)).status == 503
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert noisy == []
