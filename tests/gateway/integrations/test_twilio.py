"""The real ``twilio`` package, pointed at the running gateway with simulated modems."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from gateway.compat.sids import from_sid, to_sid
from gateway.crypto import KeyRing
from gateway.ids import new_id
from gateway.store import compat, outbox
from gateway.store.base import MessageState, Scope
from tests.gateway.integrations.conftest import Gateway, GatewayFactory, Subscriber, hook
from tests.gateway.runtime.conftest import poll_until

PATIENT = "+14155550123"


def basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


@asynccontextmanager
async def twilio_client(gw: Gateway, sid: str, token: str) -> AsyncIterator[Client]:
    http = AsyncTwilioHttpClient()
    client = Client(sid, token, http_client=http)
    client.api.base_url = gw.url
    try:
        yield client
    finally:
        await http.close()


def test_sids_round_trip() -> None:
    for _ in range(50):
        mid = new_id("msg")
        sid = to_sid(mid)
        assert sid.startswith("SM")
        assert len(sid) == 34
        assert from_sid(sid) == mid
    assert from_sid("SMnothex") is None
    assert from_sid("MM" + "0" * 32) is None


# twilio's async client builds aiohttp.BasicAuth, which aiohttp 3.14 deprecates.
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The .auth. parameter is deprecated:DeprecationWarning")
async def test_create_fetch_list_with_the_twilio_client(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    gw = await make_gateway()
    sid, token = await gw.key(Scope.SEND, Scope.READ)
    async with twilio_client(gw, sid, token) as client:
        created = await client.messages.create_async(
            to=PATIENT,
            from_="+14155550000",
            body="Your appointment is at 9:30",
            status_callback=subscriber.url + "/status",
        )
        assert created.sid.startswith("SM")
        assert created.status == "queued"
        assert created.to == PATIENT
        assert created.from_ == "+14155550000"
        assert created.account_sid == sid
        assert created.date_created is not None
        # the message really reached the simulated modem
        [segment] = await gw.sims["alpha"].wait_sent(1, timeout=10)
        assert segment.submit.recipient == PATIENT
        assert segment.submit.text == "Your appointment is at 9:30"

        message_id = from_sid(created.sid)
        assert message_id is not None

        async def delivered() -> bool:
            m = await gw.daemon.store.get_message(message_id)
            return m is not None and m.state is MessageState.DELIVERED

        await poll_until(delivered, "delivered")
        fetched = await client.messages(created.sid).fetch_async()
        assert fetched.status == "delivered"
        assert fetched.body == "Your appointment is at 9:30"
        assert fetched.date_sent is not None

        for i in range(4):
            await client.messages.create_async(to=PATIENT, body=f"note {i}")
        listed = await client.messages.list_async(limit=4, page_size=2)
        assert [m.body for m in listed] == [f"note {i}" for i in (3, 2, 1, 0)]
        everything = await client.messages.list_async(page_size=2)
        assert len(everything) == 5

        with pytest.raises(TwilioRestException) as missing:
            await client.messages("SM" + "0" * 32).fetch_async()
        assert missing.value.status == 404
        assert missing.value.code == 20404
        with pytest.raises(TwilioRestException) as bad:
            await client.messages.create_async(to="not a number", body="x")
        assert bad.value.status == 400
        assert bad.value.code == 21211
        with pytest.raises(TwilioRestException) as empty:
            await client.messages.create_async(to=PATIENT, body="")
        assert empty.value.code == 21602

    # status callbacks: Twilio's form fields, signed as Twilio signs them, with the key's
    # callback secret (derived from the key ring), not its API token, which is not kept
    statuses = await subscriber.wait_ok(2)
    validator = RequestValidator(gw.daemon.store.callback_secret(sid))
    with_token = RequestValidator(token)
    seen = []
    for r in statuses:
        params = dict(parse_qsl(r.body.decode()))
        url = subscriber.url + r.path
        assert validator.validate(url, params, r.headers["X-Twilio-Signature"])
        assert not validator.validate(url, {**params, "Body": "x"}, r.headers["X-Twilio-Signature"])
        assert not with_token.validate(url, params, r.headers["X-Twilio-Signature"])
        assert params["MessageSid"] == created.sid
        assert params["AccountSid"] == sid
        seen.append(params["MessageStatus"])
    assert seen == ["sent", "delivered"]
    assert token not in json.dumps(await stored_callback_data(gw))


async def stored_callback_data(gw: Gateway) -> list[object]:
    """Every sealed callback spec and outbox payload, opened."""
    store = gw.daemon.config.store
    keyring = KeyRing.load(store.key_file)
    raw = sqlite3.connect(store.data_dir / "smsgw.db")
    try:
        specs = [
            json.loads(keyring.open(sealed, aad=compat.spec_aad(ref)))
            for ref, sealed in raw.execute("SELECT ref, spec_enc FROM compat_messages")
        ]
        rows = [
            json.loads(keyring.open(sealed, aad=outbox.payload_aad(row_id)))
            for row_id, sealed in raw.execute("SELECT id, payload_enc FROM webhook_outbox")
        ]
    finally:
        raw.close()
    assert specs
    assert rows
    return [*specs, *rows]


async def test_authentication_and_errors_have_twilio_shapes(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    sid, token = await gw.key(Scope.READ)
    other_sid, _ = await gw.key(Scope.SEND)
    base = f"{gw.url}/2010-04-01/Accounts/{sid}/Messages.json"
    async with aiohttp.ClientSession() as http:
        async with http.get(base) as resp:
            body = await resp.json()
            assert resp.status == 401
            assert body["code"] == 20003
            assert body["more_info"].endswith("/20003")
            assert body["status"] == 401
        async with http.get(base, headers=basic(sid, "wrong")) as resp:
            assert resp.status == 401
        mismatch = f"{gw.url}/2010-04-01/Accounts/{other_sid}/Messages.json"
        async with http.get(mismatch, headers=basic(sid, token)) as resp:
            assert resp.status == 401
        async with http.post(
            base, data={"To": PATIENT, "Body": "x"}, headers=basic(sid, token)
        ) as resp:
            assert resp.status == 403
            assert (await resp.json())["code"] == 20003
        async with http.get(base + "?PageSize=0", headers=basic(sid, token)) as resp:
            assert resp.status == 400


async def test_inbound_reaches_a_twilio_style_endpoint(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    auth_token = "twilio-auth-token-abcdef0123"
    gw = await make_gateway(
        webhooks=[
            hook(
                subscriber.url + "/sms",
                "inbound.received",
                format="twilio",
                account_sid="AC" + "1" * 32,
                secret=auth_token,
            )
        ]
    )
    gw.sims["alpha"].deliver(PATIENT, "STOP reminders please")
    [r] = await subscriber.wait_ok(1)
    params = dict(parse_qsl(r.body.decode()))
    assert params["From"] == PATIENT
    assert params["Body"] == "STOP reminders please"
    assert params["SmsStatus"] == "received"
    assert params["MessageSid"].startswith("SM")
    assert params["AccountSid"] == "AC" + "1" * 32
    assert params["NumMedia"] == "0"
    assert r.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    validator = RequestValidator(auth_token)
    assert validator.validate(subscriber.url + "/sms", params, r.headers["X-Twilio-Signature"])


async def test_a_twilio_account_sees_only_its_own_messages(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(modems=())
    a_sid, a_token = await gw.key(Scope.SEND, Scope.READ)
    b_sid, b_token = await gw.key(Scope.SEND, Scope.READ)
    staff_sid, staff_token = await gw.key(Scope.READ_ALL)

    def messages(sid: str) -> str:
        return f"{gw.url}/2010-04-01/Accounts/{sid}/Messages.json"

    async with aiohttp.ClientSession() as http:
        sent: dict[str, str] = {}
        for sid, token in ((a_sid, a_token), (b_sid, b_token)):
            form = {"To": PATIENT, "Body": f"from {sid}"}
            async with http.post(messages(sid), data=form, headers=basic(sid, token)) as resp:
                assert resp.status == 201
                sent[sid] = (await resp.json())["sid"]

        fetch_b = f"{gw.url}/2010-04-01/Accounts/{a_sid}/Messages/{sent[b_sid]}.json"
        async with http.get(fetch_b, headers=basic(a_sid, a_token)) as resp:
            assert resp.status == 404
            assert (await resp.json())["code"] == 20404
        for sid, token in ((a_sid, a_token), (b_sid, b_token)):
            async with http.get(messages(sid), headers=basic(sid, token)) as resp:
                listed = (await resp.json())["messages"]
            assert [m["sid"] for m in listed] == [sent[sid]]
        async with http.get(messages(staff_sid), headers=basic(staff_sid, staff_token)) as resp:
            listed = (await resp.json())["messages"]
        assert {m["sid"] for m in listed} == set(sent.values())
