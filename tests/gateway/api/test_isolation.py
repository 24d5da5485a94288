"""Clients are isolated: a key sees and cancels only what it sent, and reads only the
replies to conversations it started, unless it holds ``read_all`` (or ``admin``).

Another client's message or reply answers 404 ``not_found``, as a missing one does, so
a key cannot learn that it exists."""

from __future__ import annotations

import time

from gateway.store.base import InboundPart, Scope, Store
from tests.gateway.api.conftest import Api

CLINIC_A_PATIENT = "+15551230010"
CLINIC_B_PATIENT = "+15551230020"
STRANGER = "+15551230099"


async def _with_clients(api: Api, store: Store) -> Api:
    """The fixture's keys plus a second ordinary client and two staff tools."""
    tokens = dict(api.tokens)
    for name, scopes in (
        ("clinic_b", frozenset({Scope.SEND, Scope.READ})),
        ("staff", frozenset({Scope.READ_ALL})),
        ("staff_send", frozenset({Scope.READ_ALL, Scope.SEND})),
    ):
        _key, tokens[name] = await store.create_api_key(name, scopes)
    return Api(api.client, tokens)


async def _receive(store: Store, sender: str, text: str, n: int) -> str:
    result = await store.add_inbound(
        InboundPart(
            modem="modem-a",
            sender=sender,
            text=text,
            encoding="gsm7",
            received_at=time.time(),
            sent_at=None,
            dedupe_key=f"isolation-{n}",
        )
    )
    assert result.inbound is not None
    return result.inbound.id


async def _list_ids(api: Api, path: str, key: str) -> list[str]:
    reply = await api.call("GET", path, key=key)
    assert reply.status == 200
    return [item["id"] for item in reply.body["items"]]


async def test_a_key_reads_only_the_messages_it_sent(api: Api, store: Store) -> None:
    api = await _with_clients(api, store)
    mine = (await api.send("send_read", to=CLINIC_A_PATIENT, body="A's note")).body["id"]
    theirs = (await api.send("clinic_b", to=CLINIC_B_PATIENT, body="B's note")).body["id"]

    own = await api.call("GET", f"/v1/messages/{mine}", key="send_read")
    assert (own.status, own.body["body"]) == (200, "A's note")
    other = await api.call("GET", f"/v1/messages/{theirs}", key="send_read")
    assert (other.status, other.code) == (404, "not_found")
    missing = await api.call("GET", "/v1/messages/msg_nope", key="send_read")
    assert other.body["error"]["message"] == missing.body["error"]["message"]

    assert await _list_ids(api, "/v1/messages", "send_read") == [mine]
    assert await _list_ids(api, "/v1/messages", "clinic_b") == [theirs]
    assert await _list_ids(api, f"/v1/messages?to={CLINIC_B_PATIENT}", "send_read") == []
    # A key that sent nothing sees nothing.
    assert await _list_ids(api, "/v1/messages", "read") == []


async def test_a_key_cannot_cancel_another_keys_message(api: Api, store: Store) -> None:
    api = await _with_clients(api, store)
    theirs = (await api.send("clinic_b", to=CLINIC_B_PATIENT)).body["id"]

    refused = await api.call("DELETE", f"/v1/messages/{theirs}", key="send_read")
    assert (refused.status, refused.code) == (404, "not_found")
    still = await api.call("GET", f"/v1/messages/{theirs}", key="clinic_b")
    assert still.body["state"] == "queued"

    cancelled = await api.call("DELETE", f"/v1/messages/{theirs}", key="clinic_b")
    assert (cancelled.status, cancelled.body["state"]) == (200, "cancelled")


async def test_read_all_and_admin_see_every_client(api: Api, store: Store) -> None:
    api = await _with_clients(api, store)
    a = (await api.send("send_read", to=CLINIC_A_PATIENT)).body["id"]
    b = (await api.send("clinic_b", to=CLINIC_B_PATIENT)).body["id"]
    for key in ("staff", "admin"):
        assert await _list_ids(api, "/v1/messages", key) == [b, a]
        one = await api.call("GET", f"/v1/messages/{a}", key=key)
        assert one.status == 200
    # read_all reads; it does not let a staff tool cancel a client's message.
    assert (await api.call("DELETE", f"/v1/messages/{a}", key="staff")).status == 403
    refused = await api.call("DELETE", f"/v1/messages/{a}", key="staff_send")
    assert (refused.status, refused.code) == (404, "not_found")
    cancelled = await api.call("DELETE", f"/v1/messages/{a}", key="admin")
    assert (cancelled.status, cancelled.body["state"]) == (200, "cancelled")


async def test_a_key_reads_the_replies_of_conversations_it_started(api: Api, store: Store) -> None:
    api = await _with_clients(api, store)
    earlier = await _receive(store, CLINIC_A_PATIENT, "before anyone wrote", 0)
    await api.send("send_read", to=CLINIC_A_PATIENT)
    reply = await _receive(store, CLINIC_A_PATIENT, "yes, 9:30 is fine", 1)
    stranger = await _receive(store, STRANGER, "who is this?", 2)

    assert await _list_ids(api, "/v1/inbound", "send_read") == [reply]
    assert await _list_ids(api, f"/v1/inbound?from={STRANGER}", "send_read") == []
    assert (await api.call("GET", f"/v1/inbound/{reply}", key="send_read")).status == 200
    for hidden in (earlier, stranger):
        answer = await api.call("GET", f"/v1/inbound/{hidden}", key="send_read")
        assert (answer.status, answer.code) == (404, "not_found")

    assert await _list_ids(api, "/v1/inbound", "clinic_b") == []
    answer = await api.call("GET", f"/v1/inbound/{reply}", key="clinic_b")
    assert (answer.status, answer.code) == (404, "not_found")

    for key in ("staff", "admin"):
        assert await _list_ids(api, "/v1/inbound", key) == [stranger, reply, earlier]
