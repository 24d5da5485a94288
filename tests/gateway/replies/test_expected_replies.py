"""Expected replies end to end: a reminder declares what the patient may answer, the
patient texts a simulated modem, clients see the link over HTTP and by webhook."""

from __future__ import annotations

import time
from typing import Any

from gateway.config import EventKind, RepliesConfig
from gateway.store.base import Scope
from tests.gateway.consent.test_opt_out import (
    Api,
    api_for,
    events,
    texts_to,
    wait_event,
    wait_texts,
)
from tests.gateway.integrations.conftest import Gateway, GatewayFactory, Subscriber, hook
from tests.gateway.runtime.conftest import text_handled
from tests.support import SteppedClock

PATIENT = "+14155550123"
REPLIES = {"C": "confirmed", "R": "reschedule"}
FOLLOW_UPS = RepliesConfig(
    follow_ups={"confirmed": "Thank you, see you Tuesday"},
    unmatched_text="Sorry, we did not understand. Please reply {choices}.",
)


async def reminder(api: Api, body: str, **fields: Any) -> dict[str, Any]:
    status, sent = await api.send(PATIENT, body, replies=REPLIES, **fields)
    assert status == 202, sent
    return await api.state(sent["id"], "delivered")


async def text_in(gw: Gateway, text: str) -> dict[str, Any]:
    """The patient's text, once the daemon has committed it and answered (or not)."""
    await text_handled(gw.daemon, gw.sims["alpha"], "alpha", PATIENT, text)
    inbound = await gw.daemon.store.list_inbound(sender=PATIENT, modem=None, cursor=None, limit=1)
    [latest] = inbound.items
    return {"id": latest.id}


async def inbound_of(api: Api, inbound_id: str) -> dict[str, Any]:
    status, found = await api.call("GET", f"/v1/inbound/{inbound_id}")
    assert status == 200, found
    return dict(found)


async def test_a_reply_is_linked_both_ways_notified_and_followed_up(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    gw = await make_gateway(
        webhooks=[hook(subscriber.url + "/hook", EventKind.REPLY_MATCHED, "inbound.received")],
        replies=FOLLOW_UPS,
    )
    async with api_for(gw, Scope.SEND, Scope.READ) as api:
        sent = await reminder(
            api,
            "Visit Tuesday 10:00. Reply C to confirm, R to reschedule",
            tags=["reminder"],
            metadata={"appointment": "A-17"},
        )
        assert sent["replies"] == REPLIES
        assert sent["reply_window"] == 72 * 3600
        assert sent["reply"] is None
        got = await text_in(gw, "c ")
        linked = await inbound_of(api, got["id"])
        assert (linked["in_reply_to"], linked["reply_value"]) == (sent["id"], "confirmed")
        status, message = await api.call("GET", f"/v1/messages/{sent['id']}")
        assert status == 200, message
        assert message["reply"]["value"] == "confirmed"
        assert message["reply"]["inbound_id"] == got["id"]
        assert message["reply"]["received_at"] == linked["received_at"]
        [event] = await wait_event(subscriber, "reply.matched")
        data = event["data"]
        assert (data["message_id"], data["value"], data["inbound_id"]) == (
            sent["id"],
            "confirmed",
            got["id"],
        )
        assert data["tags"] == ["reminder"]
        assert data["metadata"] == {"appointment": "A-17"}
        [received] = events(subscriber, "inbound.received")
        assert received["data"]["in_reply_to"] == sent["id"]
        [_, (modem, follow_up)] = await wait_texts(gw, PATIENT, 2)
        assert (modem, follow_up) == ("alpha", "Thank you, see you Tuesday")


async def test_a_reply_after_the_window_is_not_linked(make_gateway: GatewayFactory) -> None:
    clock = SteppedClock(time.time())
    gw = await make_gateway(clock=clock, replies=FOLLOW_UPS)
    async with api_for(gw, Scope.SEND, Scope.READ) as api:
        sent = await reminder(api, "Reply C to confirm", reply_window=3600)
        clock.set(clock() + 3601)
        got = await text_in(gw, "C")
        late = await inbound_of(api, got["id"])
        assert (late["in_reply_to"], late["reply_value"]) == (None, None)
        status, message = await api.call("GET", f"/v1/messages/{sent['id']}")
        assert status == 200, message
        assert message["reply"] is None
        assert len(texts_to(gw, PATIENT)) == 1  # no follow-up, no nudge: the window closed


async def test_with_two_open_reminders_the_newest_gets_the_reply(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway()
    async with api_for(gw, Scope.SEND, Scope.READ) as api:
        older = await reminder(api, "Dentist Monday: reply C or R")
        newer = await reminder(api, "Eye exam Friday: reply C or R")
        first = await text_in(gw, "Confirm")
        assert (await inbound_of(api, first["id"]))["in_reply_to"] == newer["id"]
        second = await text_in(gw, "R")  # the newest is answered: the older one is next
        assert (await inbound_of(api, second["id"]))["in_reply_to"] == older["id"]
        status, message = await api.call("GET", f"/v1/messages/{older['id']}")
        assert status == 200, message
        assert message["reply"]["value"] == "reschedule"


async def test_stop_is_no_reply_and_gets_no_nudge(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    gw = await make_gateway(
        webhooks=[hook(subscriber.url + "/hook", EventKind.REPLY_MATCHED, "consent.opted_out")],
        replies=FOLLOW_UPS,
    )
    async with api_for(gw, Scope.SEND, Scope.READ) as api:
        sent = await reminder(api, "Reply C to confirm")
        got = await text_in(gw, "STOP")
        assert (await inbound_of(api, got["id"]))["in_reply_to"] is None
        await wait_event(subscriber, "consent.opted_out")
        [_, (_, text)] = await wait_texts(gw, PATIENT, 2)
        assert "no more texts" in text  # the STOP's confirmation, and nothing else
        status, message = await api.call("GET", f"/v1/messages/{sent['id']}")
        assert status == 200, message
        assert message["reply"] is None
        assert events(subscriber, "reply.matched") == []
        assert len(texts_to(gw, PATIENT)) == 2


async def test_an_unmatched_reply_is_nudged_once(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(replies=FOLLOW_UPS)
    async with api_for(gw, Scope.SEND, Scope.READ) as api:
        sent = await reminder(api, "Reply C to confirm, R to reschedule")
        await text_in(gw, "what time was it?")
        [_, (_, nudge)] = await wait_texts(gw, PATIENT, 2)
        assert nudge == "Sorry, we did not understand. Please reply C or R."
        await text_in(gw, "huh")
        got = await text_in(gw, "c")
        [*_, (_, follow_up)] = await wait_texts(gw, PATIENT, 3)
        assert follow_up == "Thank you, see you Tuesday"
        assert len(texts_to(gw, PATIENT)) == 3  # reminder, one nudge, the follow-up
        assert (await inbound_of(api, got["id"]))["in_reply_to"] == sent["id"]


async def test_bad_replies_name_their_field(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(http=True)
    async with api_for(gw, Scope.SEND, Scope.READ) as api:
        for fields, field in (
            ({"replies": []}, "replies"),
            ({"replies": {"": "confirmed"}}, "replies"),
            ({"replies": {"C": ""}}, "replies.C"),
            ({"replies": {"C": 1}}, "replies.C"),
            ({"replies": {f"k{i}": "x" for i in range(11)}}, "replies"),
            ({"replies": {"C": "confirmed", " c": "cancel"}}, "replies"),
            ({"replies": REPLIES, "reply_window": 0}, "reply_window"),
        ):
            status, answer = await api.send(PATIENT, "Reply C", **fields)
            assert status == 400, (fields, answer)
            assert answer["error"]["field"] == field, (fields, answer)
        batch = {"messages": [{"to": PATIENT, "body": "x", "replies": {"C": "x" * 200}}]}
        status, answer = await api.call("POST", "/v1/messages/batch", json=batch)
        assert status == 400, answer
        assert answer["error"]["field"] == "messages[0].replies.C"
