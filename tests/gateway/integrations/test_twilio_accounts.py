"""An API key's Twilio AccountSid (``AC…``) and API-key sid (``SK…``), accepted wherever
the key id is."""

from __future__ import annotations

import aiohttp

from gateway.compat.sids import account_sid, key_id_of, to_sid
from gateway.ids import new_id
from gateway.store.base import Scope
from tests.gateway.integrations.conftest import GatewayFactory
from tests.gateway.integrations.test_twilio import PATIENT, basic


def test_the_account_sid_is_ac_and_32_hex_and_leads_back_to_the_key() -> None:
    for _ in range(50):
        key_id = new_id("key")
        sid = account_sid(key_id)
        assert sid.startswith("AC")
        assert len(sid) == 34
        assert int(sid[2:], 16) >= 0
        assert key_id_of(sid) == key_id
        assert key_id_of(to_sid(key_id, "SK")) == key_id
        assert key_id_of(key_id) == key_id
    assert key_id_of("AC" + "g" * 32) is None
    assert key_id_of("SM" + "0" * 32) is None
    assert key_id_of("ehr") is None


async def test_twilio_takes_the_account_sid_and_the_api_key_form(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway(modems=())
    key_id, token = await gw.key(Scope.SEND, Scope.READ)
    other_id, other_token = await gw.key(Scope.SEND, Scope.READ)
    account = account_sid(key_id)

    def messages(path_account: str) -> str:
        return f"{gw.url}/2010-04-01/Accounts/{path_account}/Messages.json"

    form = {"To": PATIENT, "Body": "hello"}
    async with aiohttp.ClientSession() as http:
        async with http.post(messages(account), data=form, headers=basic(account, token)) as r:
            assert r.status == 201
            assert (await r.json())["account_sid"] == account
        api_key = basic(to_sid(key_id, "SK"), token)
        async with http.get(messages(account), headers=api_key) as r:
            assert r.status == 200
            assert len((await r.json())["messages"]) == 1
        # another key's sids, or an SK sid where the AccountSid belongs, are refused
        for user, path in (
            (account_sid(other_id), account),
            (to_sid(other_id, "SK"), account),
            (to_sid(key_id, "SK"), to_sid(key_id, "SK")),
            (account, account_sid(other_id)),
        ):
            async with http.get(messages(path), headers=basic(user, token)) as r:
                assert r.status == 401, (user, path)
        async with http.get(messages(account), headers=basic(account, other_token)) as r:
            assert r.status == 401


async def test_kannel_takes_the_account_sid_as_username(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(modems=())
    key_id, token = await gw.key(Scope.SEND)
    params = {
        "username": account_sid(key_id),
        "password": token,
        "to": PATIENT,
        "text": "hello",
    }
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{gw.url}/cgi-bin/sendsms", params=params) as r:
            assert r.status == 202, await r.text()
        wrong = {**params, "username": account_sid(new_id("key"))}
        async with http.get(f"{gw.url}/cgi-bin/sendsms", params=wrong) as r:
            assert r.status == 403
