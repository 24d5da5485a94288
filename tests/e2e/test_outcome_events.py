"""Every outcome reaches subscribers, through the real daemon: a message that expires,
one cancelled, and one left `unknown` by a crash in the middle of its send."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.conftest import Gateway
from tests.gateway.integrations.conftest import Subscriber
from tests.support import poll_until

SETTLE = 30.0  # seconds
UNREACHABLE = "+1999"  # routed only to a modem that never comes up: such messages wait


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    sub = Subscriber()
    await sub.start()
    try:
        yield sub
    finally:
        await sub.stop()


async def reconfigure(gw: Gateway, subscriber: Subscriber, *, module: str = "gateway.cli") -> None:
    """Restart with a subscriber for every outcome and a route to a modem that is absent."""
    await gw.stop()
    with gw.config_path.open("a") as config:
        config.write(
            "\n[[modems]]\n"
            'name = "absent"\n'
            f'port = "{gw.root / "dev" / "absent"}"\n'
            "\n[[routes]]\n"
            'name = "nowhere"\n'
            f'prefixes = ["{UNREACHABLE}"]\n'
            'modems = ["absent"]\n'
            "fallback = false\n"
            "\n[[webhooks]]\n"
            'name = "outcomes"\n'
            f'url = "{subscriber.url}/hook"\n'
            'events = ["message.expired", "message.cancelled", "message.unknown"]\n'
            'secret = "whsec-outcomes-0123456789"\n'
        )
    await gw.start(module=module)


async def event_for(subscriber: Subscriber, message_id: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        for received in subscriber.ok():
            event: dict[str, Any] = json.loads(received.body)
            if event["data"]["message_id"] == message_id:
                assert received.headers["Smsgw-Event"] == event["type"]
                return event
        return None

    result: dict[str, Any] = await poll_until(found, f"the event of {message_id}", SETTLE)
    return result


async def test_a_message_that_expires_sends_its_event(
    gateway: Gateway, subscriber: Subscriber
) -> None:
    await reconfigure(gateway, subscriber)
    to = UNREACHABLE + "5550001"
    status, msg = await gateway.request(
        "POST", "/v1/messages", json={"to": to, "body": "Flu shots today", "ttl": 1}
    )
    assert status == 202, msg
    event = await event_for(subscriber, msg["id"])
    assert (event["type"], event["data"]["state"]) == ("message.expired", "expired")
    assert event["data"]["error"]["code"] == "expired"
    assert not any(s.sent for s in gateway.sims.values())


async def test_a_cancelled_message_sends_its_event(
    gateway: Gateway, subscriber: Subscriber
) -> None:
    await reconfigure(gateway, subscriber)
    status, msg = await gateway.request(
        "POST", "/v1/messages", json={"to": UNREACHABLE + "5550002", "body": "Moved to 10:00"}
    )
    assert status == 202, msg
    status, cancelled = await gateway.request("DELETE", f"/v1/messages/{msg['id']}")
    assert (status, cancelled["state"]) == (200, "cancelled"), cancelled
    event = await event_for(subscriber, msg["id"])
    assert (event["type"], event["data"]["state"]) == ("message.cancelled", "cancelled")
    status, page = await gateway.request("GET", "/v1/webhooks/cfg_outcomes/deliveries")
    assert status == 200, page
    assert [d["event"] for d in page["items"]] == ["message.cancelled"]


async def test_a_crash_mid_send_sends_unknown_after_the_restart(
    gateway: Gateway, subscriber: Subscriber
) -> None:
    await reconfigure(gateway, subscriber, module="tests.e2e.crash_mid_send")
    status, msg = await gateway.request(
        "POST", "/v1/messages", json={"to": "+15555550003", "body": "Lab results are in"}
    )
    assert status == 202, msg
    assert gateway.proc is not None
    async with asyncio.timeout(SETTLE):
        await gateway.proc.wait()
    assert gateway.proc.returncode == -9, gateway.log()
    assert subscriber.received == []  # nothing said while the send was in the air

    await gateway.start()
    event = await event_for(subscriber, msg["id"])
    assert (event["type"], event["data"]["state"]) == ("message.unknown", "unknown")
    assert event["data"]["error"]["code"] == "send_unknown"
