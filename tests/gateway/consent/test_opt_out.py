"""Opt-out end to end: a patient texts a keyword to a simulated modem, clients call the API.

What the patient receives is read from the simulated network; what clients see, from
the HTTP API and the webhooks; never from the daemon's insides.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from gateway.config import EventKind
from gateway.store.base import Scope
from gateway.timefmt import rfc3339
from tests.gateway.integrations.conftest import Gateway, GatewayFactory, Subscriber, hook
from tests.gateway.runtime.conftest import poll_until

PATIENT = "+14155550123"
OTHERS = ("+14155550124", "+14155550125")


@dataclass
class Api:
    http: aiohttp.ClientSession
    url: str
    token: str

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.http.request(method, self.url + path, headers=headers, **kw) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    async def send(self, to: str, body: str, **fields: Any) -> tuple[int, Any]:
        return await self.call("POST", "/v1/messages", json={"to": to, "body": body, **fields})

    async def state(self, message_id: str, *states: str) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            status, found = await self.call("GET", f"/v1/messages/{message_id}")
            assert status == 200, found
            return found if found["state"] in states else None

        result: dict[str, Any] = await poll_until(check, f"{message_id} in {states}")
        return result

    async def entries(self, number: str) -> list[dict[str, Any]]:
        status, page = await self.call("GET", "/v1/suppressions", params={"number": number})
        assert status == 200, page
        items: list[dict[str, Any]] = page["items"]
        return items

    async def wait_entries(self, number: str, count: int) -> list[dict[str, Any]]:
        async def check() -> list[dict[str, Any]] | None:
            found = await self.entries(number)
            return found if len(found) == count else None

        result: list[dict[str, Any]] = await poll_until(check, f"{count} entries for {number}")
        return result


@asynccontextmanager
async def api_for(gw: Gateway, *scopes: Scope) -> AsyncIterator[Api]:
    _, token = await gw.key(*(scopes or (Scope.ADMIN,)))
    async with aiohttp.ClientSession() as http:
        yield Api(http, gw.url, token)


def texts_to(gw: Gateway, number: str) -> list[tuple[str, str]]:
    """(modem, text) of every segment the simulated network took for ``number``."""
    return [
        (name, s.submit.text)
        for name, sim in gw.sims.items()
        for s in sim.sent
        if s.submit.recipient == number
    ]


async def wait_texts(gw: Gateway, number: str, count: int) -> list[tuple[str, str]]:
    async def check() -> list[tuple[str, str]] | None:
        found = texts_to(gw, number)
        return found if len(found) >= count else None

    result: list[tuple[str, str]] = await poll_until(check, f"{count} texts to {number}")
    return result


def events(subscriber: Subscriber, kind: str) -> list[dict[str, Any]]:
    found = [json.loads(r.body) for r in subscriber.ok()]
    return [event for event in found if event["type"] == kind]


async def wait_event(subscriber: Subscriber, kind: str, count: int = 1) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        found = events(subscriber, kind)
        return found if len(found) >= count else None

    result: list[dict[str, Any]] = await poll_until(check, f"{count} {kind} event(s)")
    return result


async def test_stop_gets_exactly_one_confirmation_and_a_later_send_is_refused(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    gw = await make_gateway(
        modems=("alpha", "bravo"),
        webhooks=[
            hook(subscriber.url + "/hook", EventKind.CONSENT_OPTED_OUT, EventKind.INBOUND_RECEIVED)
        ],
    )
    async with api_for(gw) as api:
        gw.sims["bravo"].deliver(PATIENT, "  Stop. ")
        [(modem, text)] = await wait_texts(gw, PATIENT, 1)
        assert modem == "bravo"  # from the modem the patient wrote to
        assert "no more texts" in text
        assert "START" in text
        [entry] = await api.entries(PATIENT)
        assert (entry["category"], entry["source"], entry["modem"]) == (None, "keyword", "bravo")

        status, body = await api.send(PATIENT, "Flu shots are in")
        assert status == 422, body
        assert body["error"]["code"] == "opted_out"
        assert body["error"]["field"] == "to"

        status, page = await api.call("GET", "/v1/messages", params={"to": PATIENT})
        assert status == 200, page
        [confirmation] = page["items"]  # the refused send left nothing behind
        assert confirmation["tags"] == ["consent"]
        await api.state(confirmation["id"], "delivered")
        [event] = await wait_event(subscriber, "consent.opted_out")
        assert event["data"]["number"] == PATIENT
        assert event["data"]["suppression_id"] == entry["id"]
        # The inbound event came first, and there is exactly one confirmation.
        await wait_event(subscriber, "inbound.received")
        assert texts_to(gw, PATIENT) == [(modem, text)]


async def test_a_batch_records_the_opted_out_number_suppressed_and_sends_the_others(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    gw = await make_gateway(webhooks=[hook(subscriber.url + "/hook", "message.suppressed")])
    async with api_for(gw) as api:
        gw.sims["alpha"].deliver(PATIENT, "STOP")
        await api.wait_entries(PATIENT, 1)
        await wait_texts(gw, PATIENT, 1)  # the confirmation
        batch = {
            "messages": [{"to": n, "body": "Clinic closed Friday"} for n in (*OTHERS, PATIENT)]
        }
        status, body = await api.call("POST", "/v1/messages/batch", json=batch)
        assert status == 202, body
        states = [item["state"] for item in body["messages"]]
        assert states[2] == "suppressed"
        assert "suppressed" not in states[:2]
        for item in body["messages"][:2]:
            await api.state(item["id"], "delivered")
        suppressed = await api.state(body["messages"][2]["id"], "suppressed")
        assert suppressed["error"]["code"] == "opted_out"
        [event] = await wait_event(subscriber, "message.suppressed")
        assert event["data"]["message_id"] == suppressed["id"]
        assert [t for _, t in texts_to(gw, PATIENT) if t == "Clinic closed Friday"] == []
        status, metrics = await api.call("GET", "/metrics")
        assert status == 200
        assert 'smsgw_suppressed_sends_total{stage="intake"} 1.0' in metrics
        assert 'smsgw_consent_changes_total{change="opted_out",source="keyword"} 1.0' in metrics


async def test_a_message_scheduled_before_the_stop_ends_suppressed_unsent(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    gw = await make_gateway(webhooks=[hook(subscriber.url + "/hook", "message.suppressed")])
    async with api_for(gw) as api:
        due = time.time() + 3.0  # the STOP lands well before: it is committed in milliseconds
        status, queued = await api.send(PATIENT, "Reminder: visit tomorrow", send_at=rfc3339(due))
        assert status == 202, queued
        assert queued["state"] == "queued"
        gw.sims["alpha"].deliver(PATIENT, "unsubscribe")
        await api.wait_entries(PATIENT, 1)
        assert time.time() < due, "the STOP was not committed before the message was due"
        ended = await api.state(queued["id"], "suppressed")
        assert ended["error"]["code"] == "opted_out"
        assert all(s["state"] == "pending" for s in ended["segments"])
        [event] = await wait_event(subscriber, "message.suppressed")
        assert event["data"]["message_id"] == queued["id"]
        assert [t for _, t in texts_to(gw, PATIENT) if t.startswith("Reminder")] == []
        status, metrics = await api.call("GET", "/metrics")
        assert 'smsgw_suppressed_sends_total{stage="send"} 1.0' in metrics


async def test_after_start_they_receive_again(
    make_gateway: GatewayFactory, subscriber: Subscriber
) -> None:
    gw = await make_gateway(webhooks=[hook(subscriber.url + "/hook", EventKind.CONSENT_OPTED_IN)])
    async with api_for(gw) as api:
        sim = gw.sims["alpha"]
        sim.deliver(PATIENT, "STOP")
        await wait_texts(gw, PATIENT, 1)
        sim.deliver(PATIENT, "Start")
        [_, (_, text)] = await wait_texts(gw, PATIENT, 2)
        assert "again" in text
        assert await api.entries(PATIENT) == []
        [event] = await wait_event(subscriber, "consent.opted_in")
        assert event["data"]["number"] == PATIENT
        status, body = await api.send(PATIENT, "Welcome back")
        assert status == 202, body
        await api.state(body["id"], "delivered")
        assert texts_to(gw, PATIENT)[-1] == ("alpha", "Welcome back")


async def test_yes_from_someone_who_never_opted_out_gets_no_confirmation(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway()
    async with api_for(gw) as api:
        sim = gw.sims["alpha"]
        sim.deliver(PATIENT, "Yes")  # "reply YES to confirm": no consent keyword for them
        sim.deliver(PATIENT, "STOP")  # handled after it, by the same consumer
        [(_, text)] = await wait_texts(gw, PATIENT, 1)
        assert "no more texts" in text
        await api.wait_entries(PATIENT, 1)


async def test_stop_survey_suppresses_surveys_only(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    async with api_for(gw) as api:
        gw.sims["alpha"].deliver(PATIENT, "STOP SURVEY")
        [(_, text)] = await wait_texts(gw, PATIENT, 1)
        assert "no more survey texts" in text
        [entry] = await api.entries(PATIENT)
        assert entry["category"] == "survey"
        status, body = await api.send(PATIENT, "How was your visit? 1-5", category="survey")
        assert status == 422, body
        assert body["error"]["code"] == "opted_out"
        batch = {"messages": [{"to": PATIENT, "body": "Rate us 1-5", "category": "survey"}]}
        status, queued = await api.call("POST", "/v1/messages/batch", json=batch)
        assert status == 202, queued
        [item] = queued["messages"]
        stored = await api.state(item["id"], "suppressed")
        assert stored["category"] == "survey"
        status, body = await api.send(PATIENT, "Your prescription is ready")  # category care
        assert status == 202, body
        await api.state(body["id"], "delivered")
        status, body = await api.send(PATIENT, "Flu shots this week", category="marketing")
        assert status == 202, body
        await api.state(body["id"], "delivered")
        assert len(gw.sims["alpha"].sent) == 3  # the confirmation, care and marketing only


async def test_variants_are_recognised_and_a_sentence_is_not(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    variants = {"+14155550201": "stop", "+14155550202": " STOP! ", "+14155550203": "Opt-Out."}
    async with api_for(gw) as api:
        sim = gw.sims["alpha"]
        sim.deliver(PATIENT, "please don't stop my meds")
        for number, text in variants.items():
            sim.deliver(number, text)
        sim.deliver(PATIENT, "HELP")  # after the sentence, from the same consumer
        [(_, help_text)] = await wait_texts(gw, PATIENT, 1)
        assert "reply STOP" in help_text
        for number in variants:
            [entry] = await api.wait_entries(number, 1)
            assert entry["source"] == "keyword"
            await wait_texts(gw, number, 1)
        assert await api.entries(PATIENT) == []  # neither the sentence nor HELP opts out
        assert len(texts_to(gw, PATIENT)) == 1  # the sentence got nothing


async def test_staff_manage_the_list_through_the_api_and_every_change_is_audited(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway()
    async with api_for(gw) as admin, api_for(gw, Scope.SEND, Scope.READ) as client:
        status, body = await client.call("GET", "/v1/suppressions")
        assert status == 403, body
        added = {"number": "(415) 555-0123", "reason": "asked at the front desk"}
        status, entry = await admin.call("POST", "/v1/suppressions", json=added)
        assert status == 201, entry
        assert (entry["number"], entry["category"], entry["source"]) == (PATIENT, None, "api")
        status, again = await admin.call("POST", "/v1/suppressions", json=added)
        assert (status, again["id"]) == (200, entry["id"])
        status, body = await client.send(PATIENT, "Lab results")
        assert (status, body["error"]["code"]) == (422, "opted_out")

        status, page = await admin.call("GET", "/v1/suppressions")
        assert status == 200, page
        [listed] = page["items"]
        assert listed["number"] != PATIENT
        assert listed["number"].endswith("23")
        assert listed["reason"] == "asked at the front desk"

        status, removed = await admin.call("DELETE", f"/v1/suppressions/{entry['id']}")
        assert status == 200, removed
        status, body = await admin.call("DELETE", f"/v1/suppressions/{entry['id']}")
        assert (status, body["error"]["code"]) == (404, "not_found")
        status, body = await client.send(PATIENT, "Lab results")
        assert status == 202, body

        status, audit = await admin.call("GET", "/v1/audit")
        assert status == 200, audit
        changes = [e for e in audit["items"] if e["action"].startswith("suppression.")]
        assert [(e["action"], e["subject"]) for e in changes] == [
            ("suppression.remove", entry["id"]),
            ("suppression.add", entry["id"]),
        ]
        assert "5550123" not in json.dumps(changes)


async def test_bad_suppression_requests_name_their_field(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    async with api_for(gw) as admin:
        for body, field in (
            ({"number": PATIENT}, "reason"),
            ({"number": PATIENT, "reason": "x", "category": "nonsense"}, "category"),
            ({"number": "12", "reason": "x"}, "number"),
            ({"reason": "x"}, "number"),
            ({"number": PATIENT, "reason": "x", "extra": 1}, "extra"),
        ):
            status, answer = await admin.call("POST", "/v1/suppressions", json=body)
            assert status == 400, (body, answer)
            assert answer["error"]["field"] == field
        status, answer = await admin.call(
            "POST",
            "/v1/suppressions",
            json={"number": PATIENT, "reason": "x", "category": "survey"},
        )
        assert (status, answer["category"]) == (201, "survey")
        # The metadata key that lets a confirmation past the gate is the gateway's own.
        status, answer = await admin.send(OTHERS[0], "hi", metadata={"smsgw_consent": "stop"})
        assert status == 400, answer
        assert answer["error"]["field"] == "metadata.smsgw_consent"


async def test_twilio_answers_21610_and_kannel_its_refusal(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    user, token = await gw.key(Scope.SEND, Scope.READ, Scope.ADMIN)
    async with api_for(gw) as admin:
        status, _ = await admin.call(
            "POST", "/v1/suppressions", json={"number": PATIENT, "reason": "written request"}
        )
        assert status == 201
    auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}
    twilio = f"{gw.url}/2010-04-01/Accounts/{user}/Messages.json"
    form = {"To": PATIENT, "From": "+14155550000", "Body": "Flu shots"}
    query = f"username={user}&password={quote(token)}&to={quote(PATIENT)}&text=Flu"
    async with aiohttp.ClientSession() as http:
        async with http.post(twilio, data=form, headers=auth) as resp:
            body = await resp.json()
            assert resp.status == 400, body
            assert body["code"] == 21610
            assert body["more_info"].endswith("/21610")
        async with http.get(f"{gw.url}/cgi-bin/sendsms?{query}") as resp:
            assert resp.status == 403
            assert await resp.text() == (
                "Number(s) has/have been denied by white- and/or black-lists."
            )
    assert texts_to(gw, PATIENT) == []
