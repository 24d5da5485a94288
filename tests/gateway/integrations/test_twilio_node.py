"""The official Node twilio client (5.x) against the running gateway, with the
AccountSid and the API-key sid the gateway derives from an API key."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from gateway.compat.sids import account_sid, from_sid, to_sid
from gateway.store.base import Scope
from tests.gateway.integrations.conftest import GatewayFactory, Subscriber
from tests.gateway.integrations.node_client import install, needs_node, node_client

PATIENT = "+14155550123"


@needs_node
async def test_the_node_client_creates_fetches_lists_and_validates_callbacks(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    await install()
    gw = await make_gateway()
    key_id, token = await gw.key(Scope.SEND, Scope.READ)
    account = account_sid(key_id)
    env = {
        "SMSGW_URL": gw.url,
        "USER": to_sid(key_id, "SK"),  # Twilio's API-key form: SK sid and secret
        "SECRET": token,
        "ACCOUNT_SID": account,
        "TO": PATIENT,
        "CALLBACK": subscriber.url + "/status",
    }
    result = await node_client("send", env)
    created = result["created"]
    assert created["sid"].startswith("SM")
    assert created["status"] == "queued"
    assert created["to"] == PATIENT
    assert created["accountSid"] == account
    assert result["fetched"] == {"sid": created["sid"], "body": "Your appointment is at 9:30"}
    assert result["listed"] == [created["sid"]]
    assert result["missing"] == {"status": 404, "code": 20404}
    [segment] = await gw.sims["alpha"].wait_sent(1, timeout=10)
    assert segment.submit.recipient == PATIENT
    assert from_sid(created["sid"]) is not None

    statuses = await subscriber.wait_ok(2)
    callbacks: list[dict[str, Any]] = [
        {
            "url": subscriber.url + r.path,
            "params": dict(parse_qsl(r.body.decode())),
            "signature": r.headers["X-Twilio-Signature"],
        }
        for r in statuses
    ]
    assert [c["params"]["MessageStatus"] for c in callbacks] == ["sent", "delivered"]
    assert all(c["params"]["AccountSid"] == account for c in callbacks)
    # Signed with the key's callback secret (smsgw keeps no token), as the README says.
    secret = gw.daemon.store.callback_secret(key_id)
    checked = await node_client("validate", {"SECRET": secret}, callbacks)
    assert checked == [{"valid": True, "tampered": False}] * 2
