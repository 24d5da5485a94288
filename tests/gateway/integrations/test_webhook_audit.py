"""Subscription changes made through the API go to the audit trail: who, which
subscription, its events and format; never its secret or its URL's query."""

from __future__ import annotations

import json

from gateway.store.base import Scope
from tests.gateway.integrations.conftest import GatewayFactory, Subscriber
from tests.gateway.integrations.test_redeliver import call


async def test_subscription_create_and_delete_are_audited(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    gw = await make_gateway()
    key_id, token = await gw.key(Scope.ADMIN)
    secret = "s3cret-for-the-subscriber-0123456789"
    status, created = await call(
        gw,
        "POST",
        "/v1/webhooks",
        token,
        {
            "url": subscriber.url + "/hook?patient=15551230000",
            "events": ["message.sent"],
            "secret": secret,
        },
    )
    assert status == 201, created
    status, _ = await call(gw, "DELETE", f"/v1/webhooks/{created['id']}", token)
    assert status == 204
    entries = [
        e
        for e in reversed((await gw.daemon.store.list_audit(cursor=None, limit=20)).items)
        if e.action.startswith("webhook.")
    ]
    assert [(e.actor, e.action, e.subject) for e in entries] == [
        (key_id, "webhook.create", created["id"]),
        (key_id, "webhook.delete", created["id"]),
    ]
    assert entries[0].detail == {
        "events": ["message.sent"],
        "format": "smsgw",
        "host": "127.0.0.1",
    }
    text = json.dumps([e.detail for e in entries])
    assert secret not in text
    assert "15551230000" not in text
