"""Signed webhooks from the durable outbox, against a real subscriber on loopback."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import replace

import aiohttp

from gateway.store.base import MessageState, Scope
from gateway.webhooks import signing
from tests.gateway.integrations.conftest import (
    FAST_WEBHOOKS,
    SECRET,
    GatewayFactory,
    Received,
    Subscriber,
    hook,
)
from tests.gateway.runtime.conftest import poll_until

ALICE = "+14155550101"
BOB = "+14155550102"
MESSAGE_EVENTS = ("message.sent", "message.delivered", "message.failed")


def events_of(received: list[Received]) -> list[dict[str, object]]:
    return [json.loads(r.body) for r in received]


def test_signature_recipe_verifies_and_refuses_a_changed_body() -> None:
    body = b'{"id":"whd_1","type":"message.sent"}'
    header = signing.sign(SECRET.encode(), body, timestamp=1_800_000_000)
    assert signing.verify(SECRET.encode(), header, body, now=1_800_000_010)
    assert not signing.verify(SECRET.encode(), header, body + b" ", now=1_800_000_010)
    assert not signing.verify(b"another-secret-000000", header, body, now=1_800_000_010)
    # outside the replay window
    assert not signing.verify(SECRET.encode(), header, body, now=1_800_000_000 + 301)
    assert not signing.verify(SECRET.encode(), "t=abc,v1=00", body, now=1_800_000_000)
    assert not signing.verify(SECRET.encode(), "v1=" + header.split("v1=")[1], body)


async def test_failing_then_hanging_subscriber_gets_every_event_once_in_order(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    subscriber.script = ["fail", "fail", "hang", "fail"]
    gw = await make_gateway(webhooks=[hook(subscriber.url, *MESSAGE_EVENTS)])
    sent = []
    for i in range(3):
        for to in (ALICE, BOB):
            sent.append(await gw.send(to, f"appointment {i}"))
    # the send path does not wait for the subscriber
    for m in sent:

        async def done(mid: str = m.id) -> bool:
            msg = await gw.daemon.store.get_message(mid)
            return msg is not None and msg.state is MessageState.DELIVERED

        await poll_until(done, f"{m.id} delivered")
    ok = await subscriber.wait_ok(2 * len(sent))
    events = events_of(ok)
    # every request is signed; exactly once per event id
    for r in ok:
        assert signing.verify(SECRET.encode(), r.headers[signing.SIGNATURE_HEADER], r.body)
        assert not signing.verify(
            SECRET.encode(), r.headers[signing.SIGNATURE_HEADER], r.body.replace(b"1", b"2")
        )
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) == 2 * len(sent)
    pairs = {(e["data"]["message_id"], e["type"]) for e in events}  # type: ignore[index]
    assert pairs == {(m.id, k) for m in sent for k in ("message.sent", "message.delivered")}
    # order per conversation: ids (creation order) ascend, sent before delivered
    per_number: dict[str, list[dict[str, object]]] = defaultdict(list)
    for e in events:
        per_number[e["data"]["to"]].append(e)  # type: ignore[index]
    assert set(per_number) == {ALICE, BOB}
    for seq in per_number.values():
        assert [e["id"] for e in seq] == sorted(e["id"] for e in seq)  # type: ignore[type-var]
        seen: set[str] = set()
        for e in seq:
            mid = e["data"]["message_id"]  # type: ignore[index]
            if e["type"] == "message.delivered":
                assert mid in seen
            seen.add(mid)
    # the attempts are visible through the API
    _admin_id, token = await gw.key(Scope.ADMIN)
    auth = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(headers=auth) as http,
        http.get(f"{gw.url}/v1/webhooks/cfg_main/deliveries?limit=100") as resp,
    ):
        assert resp.status == 200
        page = await resp.json()
    items = page["items"]
    assert len(items) == 2 * len(sent)
    assert all(d["state"] == "delivered" for d in items)
    errors = [a["error"] for d in items for a in d["history"] if a["error"]]
    assert errors.count("http 500") == 3
    assert errors.count("timeout") == 1
    listing = json.dumps(items)
    assert ALICE not in listing
    assert "appointment" not in listing


async def test_a_hanging_subscriber_does_not_hold_up_sending(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    subscriber.default = "hang"
    gw = await make_gateway(webhooks=[hook(subscriber.url, *MESSAGE_EVENTS)])
    sent = [await gw.send(BOB, f"hold {i}") for i in range(5)]
    await gw.sims["alpha"].wait_sent(len(sent), timeout=10)
    for m in sent:

        async def delivered(mid: str = m.id) -> bool:
            msg = await gw.daemon.store.get_message(mid)
            return msg is not None and msg.state is MessageState.DELIVERED

        await poll_until(delivered, f"{m.id} delivered")
    assert subscriber.received  # attempted (and hanging) while the messages went out
    assert not subscriber.ok()


async def test_nothing_is_lost_across_a_restart(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    subscriber.default = "fail"
    hooks = [hook(subscriber.url, *MESSAGE_EVENTS, "inbound.received")]
    patient = replace(FAST_WEBHOOKS, max_attempts=1000)
    gw = await make_gateway(webhooks=hooks, webhook_settings=patient, http=False)
    sent = [await gw.send(ALICE, f"reminder {i}") for i in range(4)]
    gw.sims["alpha"].deliver(ALICE, "yes, thanks")

    integrations = gw.daemon.integrations
    assert integrations is not None

    async def all_enqueued() -> bool:
        counts = await gw.daemon.store.delivery_counts()
        return counts["pending"] == 2 * len(sent) + 1 and len(subscriber.received) > 2

    await poll_until(all_enqueued, "events enqueued and attempted")
    assert not subscriber.ok()
    await gw.daemon.stop()
    subscriber.default = "ok"
    again = await make_gateway(webhooks=hooks, webhook_settings=patient, http=False)
    ok = await subscriber.wait_ok(2 * len(sent) + 1)
    events = events_of(ok)
    assert len({e["id"] for e in events}) == len(events) == 2 * len(sent) + 1
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)  # type: ignore[type-var]
    kinds = [e["type"] for e in events]
    assert kinds.count("inbound.received") == 1
    inbound = next(e for e in events if e["type"] == "inbound.received")
    assert inbound["data"]["text"] == "yes, thanks"  # type: ignore[index]
    assert again.daemon.integrations is not None


async def test_dead_letter_after_max_attempts_unblocks_the_conversation(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    subscriber.script = ["fail", "fail"]
    gw = await make_gateway(webhooks=[hook(subscriber.url, "message.sent", max_attempts=2)])
    first = await gw.send(ALICE, "first")
    second = await gw.send(ALICE, "second")
    ok = await subscriber.wait_ok(1)
    # first's event died after two attempts; second's went out after it, not before
    tried = [json.loads(r.body)["data"]["message_id"] for r in subscriber.received]
    assert tried == [first.id, first.id, second.id]
    assert events_of(ok)[0]["data"]["message_id"] == second.id  # type: ignore[index]
    _id, token = await gw.key(Scope.ADMIN)
    auth = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(headers=auth) as http,
        http.get(f"{gw.url}/v1/webhooks/cfg_main/deliveries?state=dead") as resp,
    ):
        dead = (await resp.json())["items"]
    assert len(dead) == 1
    assert dead[0]["attempts"] == 2
    assert [a["status"] for a in dead[0]["history"]] == [500, 500]


async def test_subscriptions_through_the_api(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    gw = await make_gateway(webhooks=[hook(subscriber.url, "modem.down", name="ops")])
    _id, token = await gw.key(Scope.ADMIN)
    _rid, read_token = await gw.key(Scope.READ)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        body = {"url": subscriber.url + "/api", "events": ["message.sent", "modem.up"]}
        async with http.post(f"{gw.url}/v1/webhooks", json=body) as resp:
            assert resp.status == 201
            created = await resp.json()
        assert len(created["secret"]) >= 16
        assert created["source"] == "api"
        async with http.get(f"{gw.url}/v1/webhooks") as resp:
            listed = (await resp.json())["items"]
        assert {s["id"] for s in listed} == {"cfg_ops", created["id"]}
        assert all("secret" not in s for s in listed)
        async with http.post(f"{gw.url}/v1/webhooks", json={"url": "ftp://x", "events": []}) as r:
            assert r.status == 400
            assert (await r.json())["error"]["field"] == "url"
        async with http.delete(f"{gw.url}/v1/webhooks/cfg_ops") as resp:
            assert resp.status == 409
        async with http.get(
            f"{gw.url}/v1/webhooks", headers={"Authorization": f"Bearer {read_token}"}
        ) as resp:
            assert resp.status == 403
        message = await gw.send(BOB, "hello")
        ok = await subscriber.wait_ok(1)
        event = json.loads(ok[0].body)
        assert ok[0].path == "/api"
        assert event["data"]["message_id"] == message.id
        secret = created["secret"].encode()
        assert signing.verify(secret, ok[0].headers[signing.SIGNATURE_HEADER], ok[0].body)
        async with http.delete(f"{gw.url}/v1/webhooks/{created['id']}") as resp:
            assert resp.status == 204
        async with http.get(f"{gw.url}/v1/webhooks/{created['id']}") as resp:
            assert resp.status == 404


async def test_modem_down_and_up_events(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    gw = await make_gateway(webhooks=[hook(subscriber.url, "modem.down", "modem.up")])
    started = await subscriber.wait_ok(1)  # the modem came up at start
    assert json.loads(started[0].body)["type"] == "modem.up"
    await gw.sims["alpha"].vanish()
    await gw.sims["alpha"].reappear()
    ok = await subscriber.wait_ok(3)
    kinds = [json.loads(r.body)["type"] for r in ok]
    assert kinds == ["modem.up", "modem.down", "modem.up"]
    assert json.loads(ok[1].body)["data"]["modem"] == "alpha"


def test_backoff_grows_and_is_jittered() -> None:
    import random

    from gateway.webhooks.delivery import WebhookSettings, backoff

    settings = WebhookSettings(backoff_initial=1.0, backoff_max=8.0)
    rng = random.Random(3)
    delays = [backoff(settings, n, rng) for n in range(1, 7)]
    assert 0.5 <= delays[0] <= 1.0
    assert 1.0 <= delays[1] <= 2.0
    assert all(4.0 <= d <= 8.0 for d in delays[3:])
    assert time.time() > 0
