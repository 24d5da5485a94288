"""Per-key limits and failed-authentication limits on the Twilio and Kannel shapes, over
real HTTP to the running daemon: the same limits as /v1, in each shape's own words."""

from __future__ import annotations

import time
from urllib.parse import quote

import aiohttp

from gateway.store.base import KeyLimits, Scope
from tests.gateway.integrations.conftest import Gateway, GatewayFactory
from tests.gateway.integrations.test_twilio import basic

PATIENT = "+14155550123"
SEND_READ = frozenset({Scope.SEND, Scope.READ})


async def key(gw: Gateway, limits: KeyLimits) -> tuple[str, str]:
    created, token = await gw.daemon.store.create_api_key("compat", SEND_READ, limits)
    return created.id, token


def sendsms(gw: Gateway, user: str, password: str) -> str:
    query = f"username={user}&password={quote(password)}&to={quote(PATIENT)}&text=hello"
    return f"{gw.url}/cgi-bin/sendsms?{query}"


async def test_twilio_rate_and_quota_are_429_in_twilios_shape(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway(modems=())
    sid, token = await key(gw, KeyLimits(requests_per_minute=2))
    quota_sid, quota_token = await key(gw, KeyLimits(messages_per_day=1))
    async with aiohttp.ClientSession() as http:
        listing = f"{gw.url}/2010-04-01/Accounts/{sid}/Messages.json"
        for _ in range(2):
            async with http.get(listing, headers=basic(sid, token)) as resp:
                assert resp.status == 200
        async with http.get(listing, headers=basic(sid, token)) as resp:
            body = await resp.json()
            assert resp.status == 429
            assert body["code"] == 20429
            assert body["status"] == 429
            assert 1 <= int(resp.headers["Retry-After"]) <= 30
        create = f"{gw.url}/2010-04-01/Accounts/{quota_sid}/Messages.json"
        form = {"To": PATIENT, "Body": "Your results are ready"}
        async with http.post(create, data=form, headers=basic(quota_sid, quota_token)) as resp:
            assert resp.status == 201
        async with http.post(create, data=form, headers=basic(quota_sid, quota_token)) as resp:
            assert resp.status == 429
            assert (await resp.json())["code"] == 20429
            assert int(resp.headers["Retry-After"]) > 86_000


async def test_kannel_rate_expiry_networks_and_quota(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(modems=())
    user, password = await key(gw, KeyLimits(requests_per_minute=1, messages_per_day=5))
    expired_user, expired = await key(gw, KeyLimits(expires_at=time.time() - 1))
    far_user, far = await key(gw, KeyLimits(networks=("192.0.2.0/24",)))
    quota_user, quota = await key(gw, KeyLimits(messages_per_day=1))
    async with aiohttp.ClientSession() as http:
        async with http.get(sendsms(gw, user, password)) as resp:
            assert resp.status == 202
        async with http.get(sendsms(gw, user, password)) as resp:
            assert resp.status == 429
            assert (await resp.text()).startswith("Too many requests, rejected")
            assert 1 <= int(resp.headers["Retry-After"]) <= 60
        for refused_user, refused in ((expired_user, expired), (far_user, far)):
            async with http.get(sendsms(gw, refused_user, refused)) as resp:
                assert resp.status == 403
                assert await resp.text() == "Authorization failed for sendsms"
        async with http.get(sendsms(gw, quota_user, quota)) as resp:
            assert resp.status == 202
        async with http.get(sendsms(gw, quota_user, quota)) as resp:
            assert resp.status == 429
            assert "24 hours" in await resp.text()


async def test_failed_authentication_on_either_shape_counts_for_the_address(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway(modems=())
    user, password = await key(gw, KeyLimits())
    listing = f"{gw.url}/2010-04-01/Accounts/{user}/Messages.json"
    limit = gw.daemon.config.clients.failed_auth_limit
    async with aiohttp.ClientSession() as http:
        for attempt in range(limit):
            if attempt % 2:
                async with http.get(listing, headers=basic(user, "guess")) as resp:
                    assert resp.status == 401
            else:
                async with http.get(sendsms(gw, user, "guess")) as resp:
                    assert resp.status == 403
        # Now even the right password is refused from this address, in each shape.
        async with http.get(sendsms(gw, user, password)) as resp:
            assert resp.status == 429
            assert int(resp.headers["Retry-After"]) >= 1
        async with http.get(listing, headers=basic(user, password)) as resp:
            assert resp.status == 429
            assert (await resp.json())["code"] == 20429
        async with http.get(
            f"{gw.url}/v1/messages", headers={"Authorization": f"Bearer {password}"}
        ) as resp:
            assert resp.status == 429
            assert (await resp.json())["error"]["code"] == "too_many_auth_failures"
