"""Dead-lettered deliveries sent again on an admin's request: one, all of a subscriber,
or all since a time; audited, and refused without admin scope."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from gateway.store.base import Scope
from tests.gateway.integrations.conftest import Gateway, GatewayFactory, Subscriber, hook
from tests.gateway.runtime.conftest import poll_until

ALICE = "+14155550101"
BOB = "+14155550102"
REDELIVER = "/v1/webhooks/cfg_main/deliveries/redeliver"


async def call(
    gw: Gateway, method: str, path: str, token: str, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.request(method, gw.url + path, json=body) as resp,
    ):
        return resp.status, await resp.json() if resp.content_length else None


async def dead(gw: Gateway, token: str, count: int) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        status, page = await call(gw, "GET", "/v1/webhooks/cfg_main/deliveries?state=dead", token)
        assert status == 200, page
        items: list[dict[str, Any]] = page["items"]
        return items if len(items) == count else None

    found: list[dict[str, Any]] = await poll_until(check, f"{count} dead deliveries")
    return found


async def test_one_dead_delivery_is_sent_again_and_audited(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    subscriber.default = "fail"
    gw = await make_gateway(webhooks=[hook(subscriber.url, "message.sent", max_attempts=1)])
    first = await gw.send(ALICE, "first")
    second = await gw.send(BOB, "second")
    key_id, token = await gw.key(Scope.ADMIN)
    died = await dead(gw, token, 2)
    target = died[0]
    subscriber.default = "ok"

    status, body = await call(gw, "POST", REDELIVER, token, {"delivery_id": target["id"]})
    assert (status, body) == (200, {"redelivered": 1})
    [ok] = await subscriber.wait_ok(1)
    assert ok.headers["Smsgw-Delivery"] == target["id"]
    assert json.loads(ok.body)["data"]["message_id"] in {first.id, second.id}
    assert len(await dead(gw, token, 1)) == 1  # the other stays dead

    async def recorded() -> list[dict[str, Any]] | None:
        # The receiver answers before the daemon records the attempt: wait on the record.
        path = "/v1/webhooks/cfg_main/deliveries?state=delivered"
        status, page = await call(gw, "GET", path, token)
        assert status == 200, page
        items: list[dict[str, Any]] = page["items"]
        return items or None

    [delivered] = await poll_until(recorded, "the redelivery recorded as delivered")
    assert delivered["id"] == target["id"]
    assert delivered["attempts"] == 1  # a fresh count, the dead attempt still listed
    assert [a["status"] for a in delivered["history"]] == [500, 200]

    [entry] = [
        e
        for e in (await gw.daemon.store.list_audit(cursor=None, limit=10)).items
        if e.action == "webhook.redeliver"
    ]
    assert (entry.actor, entry.subject) == (key_id, "cfg_main")
    assert entry.detail == {"delivery_id": target["id"], "since": None, "redelivered": 1}

    # Not dead any more: nothing to send again.
    status, body = await call(gw, "POST", REDELIVER, token, {"delivery_id": target["id"]})
    assert (status, body["error"]["code"], body["error"]["field"]) == (
        404,
        "not_found",
        "delivery_id",
    )


async def test_all_dead_deliveries_of_a_subscriber_or_since_a_time(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    subscriber.default = "fail"
    gw = await make_gateway(webhooks=[hook(subscriber.url, "message.sent", max_attempts=1)])
    await gw.send(ALICE, "first")
    await gw.send(BOB, "second")
    _, token = await gw.key(Scope.ADMIN)
    await dead(gw, token, 2)
    subscriber.default = "ok"

    status, body = await call(gw, "POST", REDELIVER, token, {"since": "2999-01-01T00:00:00Z"})
    assert (status, body) == (200, {"redelivered": 0})
    status, body = await call(gw, "POST", REDELIVER, token, {"since": "2000-01-01T00:00:00Z"})
    assert (status, body) == (200, {"redelivered": 2})
    await subscriber.wait_ok(2)

    async def both_recorded() -> bool:
        path = "/v1/webhooks/cfg_main/deliveries?state=delivered"
        _, page = await call(gw, "GET", path, token)
        return len(page["items"]) == 2

    await poll_until(both_recorded, "both redeliveries recorded as delivered")
    status, body = await call(gw, "POST", REDELIVER, token, {})
    assert (status, body) == (200, {"redelivered": 0})


async def test_redelivery_needs_admin_scope_and_a_sound_request(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    gw = await make_gateway(webhooks=[hook(subscriber.url, "message.sent")])
    _, reader = await gw.key(Scope.READ, Scope.SEND)
    status, body = await call(gw, "POST", REDELIVER, reader, {})
    assert (status, body["error"]["code"]) == (403, "forbidden")
    _, admin = await gw.key(Scope.ADMIN)
    for request, field in [
        ({"delivery_id": "whd_x", "since": "2000-01-01T00:00:00Z"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"delivery_id": 7}, "delivery_id"),
        ({"everything": True}, "everything"),
    ]:
        status, body = await call(gw, "POST", REDELIVER, admin, request)
        assert (status, body["error"]["field"]) == (400, field), body
    status, body = await call(gw, "POST", "/v1/webhooks/nope/deliveries/redeliver", admin, {})
    assert status == 404, body
