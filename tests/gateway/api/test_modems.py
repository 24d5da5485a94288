"""``/v1/modems`` and ``/v1/events``: the fleet's state and its log."""

from __future__ import annotations

import time

from drivers.types import Health, Identity, Registration
from gateway.core.service import ModemStatus
from gateway.core.waiting import Waiting, WaitReason
from gateway.store.base import Store
from tests.gateway.api.conftest import Api
from tests.gateway.api.service_double import ServiceDouble


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
        ModemStatus(
            "capped",
            "/dev/ttyUSB8",
            "auto",
            "ready",
            None,
            (),
            None,
            None,
            3,
            0,
            None,
            None,
            waiting=Waiting(WaitReason.DAILY_CAP, "capped", until=1_900_000_000.0),
        ),
    ]
    reply = await double_api.call("GET", "/v1/modems", key="read")
    assert reply.status == 200
    first, second, capped = reply.body["modems"]
    assert first["health"]["registration"] == "home"
    assert first["identity"]["model"] == "EC25"
    assert (second["state"], second["identity"], second["last_seen"]) == ("down", None, None)
    assert first["waiting"] is None
    assert capped["waiting"] == {
        "reason": "daily_cap",
        "modem": "capped",
        "until": "2030-03-17T17:46:40.000Z",
    }


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
