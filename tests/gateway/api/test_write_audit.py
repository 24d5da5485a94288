"""Sends and cancels go to the audit trail: the API key's id and the message ids,
never a number or a text."""

from __future__ import annotations

import json

from gateway.store.base import AuditEntry, Store
from tests.gateway.api.conftest import Api

NUMBER = "+15551230000"
BODY = "Your appointment is at 9:30."


async def _trail(store: Store) -> list[AuditEntry]:
    return list(reversed((await store.list_audit(cursor=None, limit=100)).items))


async def _key_id(store: Store, name: str) -> str:
    [key] = [k for k in await store.list_api_keys() if k.name == name]
    return key.id


def _no_contents(entries: list[AuditEntry]) -> None:
    text = json.dumps([[e.subject, e.detail] for e in entries])
    assert NUMBER.lstrip("+") not in text
    assert "appointment" not in text


async def test_sends_are_audited_with_ids_only(api: Api, store: Store) -> None:
    before = len(await _trail(store))
    one = await api.send(key="send")
    assert one.status == 202
    batch = await api.call(
        "POST",
        "/v1/messages/batch",
        key="send",
        json={"messages": [{"to": NUMBER, "body": BODY}, {"to": NUMBER, "body": BODY}]},
    )
    assert batch.status == 202, batch.body
    ids = [item["id"] for item in batch.body["messages"]]
    sends = (await _trail(store))[before:]
    sender = await _key_id(store, "send")
    assert [(e.actor, e.action, e.subject, e.detail) for e in sends] == [
        (sender, "message.send", one.body["id"], {"ids": [one.body["id"]]}),
        (sender, "message.send", None, {"ids": ids}),
    ]
    _no_contents(sends)


async def test_an_idempotent_repeat_is_not_a_second_send(api: Api, store: Store) -> None:
    first = await api.send(key="send", idempotency_key="visit-42")
    before = len(await _trail(store))
    again = await api.send(key="send", idempotency_key="visit-42")
    assert again.body["id"] == first.body["id"]
    assert (await _trail(store))[before:] == []


async def test_cancels_are_audited(api: Api, store: Store) -> None:
    sent = await api.send(key="send", send_at="2099-01-01T00:00:00Z")
    message_id = sent.body["id"]
    before = len(await _trail(store))
    cancelled = await api.call("DELETE", f"/v1/messages/{message_id}", key="send")
    assert cancelled.status == 200, cancelled.body
    entries = (await _trail(store))[before:]
    sender = await _key_id(store, "send")
    assert [(e.actor, e.action, e.subject, e.detail) for e in entries] == [
        (sender, "message.cancel", message_id, {"ids": [message_id]}),
    ]
    _no_contents(entries)
    # A cancel refused (another client's message) changed nothing and is not recorded.
    other = await api.send(key="admin", send_at="2099-01-01T00:00:00Z")
    refused = await api.call("DELETE", f"/v1/messages/{other.body['id']}", key="send")
    assert refused.status == 404
    assert [e.action for e in (await _trail(store))[before:]] == ["message.cancel", "message.send"]
