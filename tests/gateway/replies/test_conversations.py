"""Conversations end to end: a patient's thread over HTTP with simulated modems, outbound
and inbound together, replies linked, unread counts, reads audited, scopes honoured."""

from __future__ import annotations

from typing import Any

from gateway.config import EventKind
from gateway.redact import redact_number
from gateway.store.base import Scope
from tests.gateway.api.schema_check import errors as schema_errors
from tests.gateway.consent.test_opt_out import Api, api_for, wait_event
from tests.gateway.integrations.conftest import Gateway, GatewayFactory, Subscriber, hook
from tests.gateway.replies.test_expected_replies import PATIENT, REPLIES, reminder, text_in
from tests.gateway.runtime.conftest import text_handled

OTHER = "+14155550177"


async def conforms(api: Api, schema: str, value: Any) -> None:
    """``value`` is what the served document says ``schema`` is."""
    status, doc = await api.call("GET", "/v1/openapi.json")
    assert status == 200
    assert schema_errors(doc, {"$ref": f"#/components/schemas/{schema}"}, value) == []


async def conversations(api: Api, **params: Any) -> dict[str, Any]:
    status, page = await api.call("GET", "/v1/conversations", params=params)
    assert status == 200, page
    await conforms(api, "ConversationPage", page)
    return dict(page)


async def thread(api: Api, conversation_id: str, **params: Any) -> dict[str, Any]:
    status, found = await api.call("GET", f"/v1/conversations/{conversation_id}", params=params)
    assert status == 200, found
    await conforms(api, "ConversationThread", found)
    return dict(found)


async def text_from(gw: Gateway, number: str, text: str) -> None:
    """A text from ``number``, once the daemon has handled it."""
    await text_handled(gw.daemon, gw.sims["alpha"], "alpha", number, text)


async def test_a_thread_holds_outbound_and_inbound_in_order_with_replies_linked(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway()
    async with api_for(gw, Scope.SEND, Scope.READ) as api:
        first = await reminder(api, "Visit Tuesday. Reply C to confirm, R to reschedule")
        conversation_id = first["conversation_id"]
        assert conversation_id.startswith("conv_")
        got = await text_in(gw, "C")
        status, second = await api.send(PATIENT, "Thank you, see you then")
        assert status == 202, second
        assert second["conversation_id"] == conversation_id

        page = await conversations(api)
        [listed] = page["items"]
        assert listed["id"] == conversation_id
        assert listed["number"] == redact_number(PATIENT)
        assert PATIENT not in str(page)
        assert listed["unread"] == 1
        assert listed["last_at"] == second["created_at"]

        found = await thread(api, conversation_id)
        assert found["conversation"]["id"] == conversation_id
        assert found["conversation"]["number"] == PATIENT
        kinds = [(item["direction"], item["id"]) for item in found["items"]]
        assert kinds == [
            ("outbound", first["id"]),
            ("inbound", got["id"]),
            ("outbound", second["id"]),
        ]
        outbound, inbound, _ = found["items"]
        assert outbound["message"]["reply"]["inbound_id"] == got["id"]
        assert outbound["message"]["reply"]["value"] == "confirmed"
        assert outbound["message"]["body"].startswith("Visit Tuesday")
        linked = inbound["inbound"]
        assert (linked["in_reply_to"], linked["reply_value"]) == (first["id"], "confirmed")
        assert linked["text"] == "C"
        assert inbound["channel"] == "sms"
        assert [item["at"] for item in found["items"]] == sorted(
            item["at"] for item in found["items"]
        )


async def test_unread_counts_texts_until_staff_mark_the_thread_read(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway()
    async with api_for(gw, Scope.SEND, Scope.READ) as api:
        sent = await reminder(api, "Reply C to confirm")
        conversation_id = sent["conversation_id"]
        assert (await conversations(api))["items"][0]["unread"] == 0
        await text_in(gw, "what time?")
        await text_in(gw, "hello?")
        assert (await conversations(api))["items"][0]["unread"] == 2
        status, read = await api.call("POST", f"/v1/conversations/{conversation_id}/read")
        assert status == 200, read
        await conforms(api, "Conversation", read)
        assert read["unread"] == 0
        assert (await conversations(api))["items"][0]["unread"] == 0
        await text_in(gw, "C")
        [listed] = (await conversations(api))["items"]
        assert listed["unread"] == 1
        assert listed["open_reply"] is None  # the C answered it


async def test_the_list_shows_an_open_expected_reply_and_an_opt_out(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway()
    async with api_for(gw, Scope.SEND, Scope.READ) as api:
        sent = await reminder(api, "Reply C to confirm, R to reschedule")
        [listed] = (await conversations(api))["items"]
        assert listed["open_reply"]["message_id"] == sent["id"]
        assert listed["open_reply"]["replies"] == REPLIES
        assert listed["opted_out"] == []
        await text_in(gw, "STOP")
        [listed] = (await conversations(api))["items"]
        assert listed["opted_out"] == ["*"]
        assert (await thread(api, listed["id"]))["conversation"]["opted_out"] == ["*"]


async def test_reading_a_thread_is_audited_without_its_content(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway()
    async with api_for(gw, Scope.SEND, Scope.READ) as api:
        sent = await reminder(api, "Reply C to confirm")
        await text_in(gw, "C")
        await thread(api, sent["conversation_id"])
    key_id = (await gw.daemon.store.list_api_keys())[-1].id
    trail = await gw.daemon.store.list_audit(cursor=None, limit=50)
    reads = [e for e in trail.items if e.action == "conversation.read"]
    [entry] = reads
    assert (entry.actor, entry.subject) == (key_id, sent["conversation_id"])
    assert PATIENT not in str(entry.detail)
    assert "Reply C" not in str(entry.detail)
    assert sent["id"] in entry.detail["ids"]


async def test_scopes_decide_who_sees_a_conversation(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    async with api_for(gw, Scope.SEND, Scope.READ) as owner:
        sent = await reminder(owner, "Reply C to confirm")
        conversation_id = sent["conversation_id"]
        await text_in(gw, "C")
        await text_from(gw, OTHER, "a patient nobody wrote to")
        assert [c["id"] for c in (await conversations(owner))["items"]] == [conversation_id]
    async with api_for(gw, Scope.SEND) as sender:
        status, refused = await sender.call("GET", "/v1/conversations")
        assert (status, refused["error"]["code"]) == (403, "forbidden")
        status, refused = await sender.call("GET", f"/v1/conversations/{conversation_id}")
        assert status == 403, refused
    async with api_for(gw, Scope.SEND, Scope.READ) as stranger:
        assert (await conversations(stranger))["items"] == []
        status, missing = await stranger.call("GET", f"/v1/conversations/{conversation_id}")
        assert status == 404, missing
        status, missing = await stranger.call("POST", f"/v1/conversations/{conversation_id}/read")
        assert status == 404, missing
    async with api_for(gw, Scope.READ_ALL) as staff:
        listed = (await conversations(staff))["items"]
        assert len(listed) == 2
        assert listed[1]["id"] == conversation_id  # the newer text from OTHER comes first


async def test_the_list_pages_recent_first(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    numbers = ["+14155550161", "+14155550162", "+14155550163"]
    async with api_for(gw, Scope.SEND, Scope.READ) as api:
        ids = []
        for number in numbers:
            status, sent = await api.send(number, "Your results are ready")
            assert status == 202, sent
            ids.append(sent["conversation_id"])
        first = await conversations(api, limit=2)
        assert [c["id"] for c in first["items"]] == ids[::-1][:2]
        rest = await conversations(api, limit=2, cursor=first["next_cursor"])
        assert [c["id"] for c in rest["items"]] == ids[:1]
        assert rest["next_cursor"] is None
        status, bad = await api.call("GET", "/v1/conversations", params={"cursor": "!!"})
        assert status == 400, bad


async def test_message_webhooks_carry_the_conversation(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    gw = await make_gateway(webhooks=[hook(subscriber.url + "/hook", EventKind.MESSAGE_SENT)])
    async with api_for(gw, Scope.SEND, Scope.READ) as api:
        status, sent = await api.send(PATIENT, "Your results are ready")
        assert status == 202, sent
        [event] = await wait_event(subscriber, "message.sent")
        assert event["data"]["conversation_id"] == sent["conversation_id"]
        status, found = await api.call("GET", f"/v1/messages/{sent['id']}")
        assert status == 200, found
        assert found["conversation_id"] == sent["conversation_id"]
        await conforms(api, "Message", found)
