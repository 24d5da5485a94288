"""The Twilio- and Kannel-shaped sends, which cannot name a category, take their key's."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp

from gateway.store.base import MessageFilter, Scope
from tests.gateway.integrations.conftest import GatewayFactory
from tests.gateway.integrations.test_twilio import basic

PATIENT = "+14155550177"


async def test_twilio_and_kannel_sends_take_the_key_default_category(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway()
    store = gw.daemon.store
    reminders, reminders_token = await store.create_api_key(
        "reminders", frozenset({Scope.SEND, Scope.READ}), default_category="reminder"
    )
    plain, plain_token = await store.create_api_key("ehr", frozenset({Scope.SEND}))
    messages = f"{gw.url}/2010-04-01/Accounts/{reminders.id}/Messages.json"
    async with aiohttp.ClientSession() as http:
        form = {"To": PATIENT, "Body": "See you tomorrow at 9"}
        async with http.post(
            messages, data=form, headers=basic(reminders.id, reminders_token)
        ) as resp:
            assert resp.status == 201
        for key_id, secret in ((reminders.id, reminders_token), (plain.id, plain_token)):
            query = f"username={key_id}&password={quote(secret)}&to={quote(PATIENT)}&text=hi"
            async with http.get(f"{gw.url}/cgi-bin/sendsms?{query}") as resp:
                assert resp.status == 202
    page = await store.list_messages(MessageFilter(), cursor=None, limit=10)
    found = sorted((m.api_key_id == reminders.id, m.category) for m in page.items)
    assert found == [(False, "care"), (True, "reminder"), (True, "reminder")]
