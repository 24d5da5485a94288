"""``/v1/messages``: the happy paths, idempotency, cancel, listing and pagination."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from gateway.store.base import MessageState, Store
from tests.gateway.api.conftest import Api


async def test_post_queues_and_answers_202_with_location(api: Api, store: Store) -> None:
    reply = await api.send(
        to="(555) 123-4567",
        body="Hello from the clinic",
        priority="urgent",
        send_at="2030-01-31T09:30:00+01:00",
        ttl=3600,
        tags=["reminder", "dental"],
        metadata={"appointment": 8812},
        request_report=False,
    )
    assert reply.status == 202
    message = reply.body
    assert reply.headers["Location"] == f"/v1/messages/{message['id']}"
    assert message["to"] == "+15551234567"
    assert message["body"] == "Hello from the clinic"
    assert message["state"] == "queued"
    assert message["priority"] == "urgent"
    assert message["send_at"] == "2030-01-31T08:30:00.000Z"
    assert message["expires_at"] == "2030-01-31T09:30:00.000Z"
    assert message["tags"] == ["reminder", "dental"]
    assert message["metadata"] == {"appointment": 8812}
    assert message["request_report"] is False
    assert message["segment_count"] == 1
    assert message["segments"][0] == {
        "seq": 1,
        "state": "pending",
        "modem": None,
        "reference": None,
        "sent_at": None,
        "report_status": None,
    }
    assert message["error"] is None
    stored = await store.get_message(message["id"])  # committed before the answer
    assert stored is not None
    assert stored.to == "+15551234567"


async def test_get_returns_the_stored_message(api: Api) -> None:
    sent = await api.send(body="x" * 200)  # two GSM-7 segments
    reply = await api.call("GET", f"/v1/messages/{sent.body['id']}", key="read_all")
    assert reply.status == 200
    assert {k: v for k, v in reply.body.items() if k != "waiting"} == sent.body
    assert reply.body["segment_count"] == 2
    assert reply.body["encoding"] == "gsm7"


async def test_body_is_shown_only_to_keys_that_may_read(api: Api) -> None:
    sent_only = await api.send(key="send")
    assert sent_only.status == 202
    assert "body" not in sent_only.body
    both = await api.send(key="send_read", body="seen")
    assert both.body["body"] == "seen"


async def test_idempotent_replay_returns_200_and_the_same_message(api: Api) -> None:
    first = await api.send(idempotency_key="appt-1")
    again = await api.send(idempotency_key="appt-1")
    assert (first.status, again.status) == (202, 200)
    assert again.body == first.body
    by_header = await api.call(
        "POST",
        "/v1/messages",
        json={"to": "+15551230000", "body": "Your appointment is at 9:30."},
        headers={"Idempotency-Key": "appt-1"},
    )
    assert by_header.status == 200
    assert by_header.body["id"] == first.body["id"]


async def test_batch_accepts_all_in_order(api: Api) -> None:
    items = [{"to": f"+1555123{i:04d}", "body": f"n{i}"} for i in range(20)]
    items[3]["body"] = "ж" * 71  # two UCS-2 segments
    reply = await api.call("POST", "/v1/messages/batch", json={"messages": items})
    assert reply.status == 202
    answers = reply.body["messages"]
    assert len({m["id"] for m in answers}) == 20
    for item, answer in zip(items, answers, strict=True):
        stored = await api.call("GET", f"/v1/messages/{answer['id']}", key="read_all")
        assert (stored.body["to"], stored.body["body"]) == (item["to"], item["body"])
        assert answer["segment_count"] == stored.body["segment_count"]
        assert answer["encoding"] == stored.body["encoding"]
    assert answers[3]["encoding"] == "ucs2"
    assert answers[3]["segment_count"] == 2
    assert answers[0] == {
        "id": answers[0]["id"],
        "state": "queued",
        "segment_count": 1,
        "encoding": "gsm7",
        "replayed": False,
    }


async def test_batch_answer_carries_no_number_or_text(api: Api) -> None:
    items = [{"to": "+15551239876", "body": "biopsy results ready"}]
    reply = await api.call("POST", "/v1/messages/batch", json={"messages": items}, key="admin")
    assert reply.status == 202
    text = json.dumps(reply.body)
    assert "5551239876" not in text
    assert "biopsy" not in text


async def test_batch_of_replays_answers_200(api: Api) -> None:
    items = [{"to": "+15551230001", "body": "a", "idempotency_key": "k1"}]
    first = await api.call("POST", "/v1/messages/batch", json={"messages": items})
    again = await api.call("POST", "/v1/messages/batch", json={"messages": items})
    assert (first.status, again.status) == (202, 200)
    assert [m["replayed"] for m in first.body["messages"]] == [False]
    assert again.body["messages"] == [{**first.body["messages"][0], "replayed": True}]


async def test_batch_marks_only_the_replayed_items(api: Api) -> None:
    old = {"to": "+15551230003", "body": "a", "idempotency_key": "k3"}
    first = await api.call("POST", "/v1/messages/batch", json={"messages": [old]})
    new = {"to": "+15551230004", "body": "b"}
    mixed = await api.call("POST", "/v1/messages/batch", json={"messages": [new, old]})
    assert mixed.status == 202
    assert [m["replayed"] for m in mixed.body["messages"]] == [False, True]
    assert mixed.body["messages"][1]["id"] == first.body["messages"][0]["id"]


async def test_delete_cancels_a_queued_message(api: Api) -> None:
    sent = await api.send(key="send")
    reply = await api.call("DELETE", f"/v1/messages/{sent.body['id']}", key="send")
    assert reply.status == 200
    assert reply.body["state"] == "cancelled"
    assert "body" not in reply.body  # a send-only key
    again = await api.call("GET", f"/v1/messages/{sent.body['id']}")
    assert again.body["state"] == "cancelled"


async def test_list_walks_every_page_once(api: Api) -> None:
    items = [{"to": "+15551230002", "body": f"m{i}", "tags": ["walk"]} for i in range(23)]
    sent = await api.call("POST", "/v1/messages/batch", json={"messages": items})
    expected = {m["id"] for m in sent.body["messages"]}
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = "/v1/messages?tag=walk&limit=5" + (f"&cursor={cursor}" if cursor else "")
        reply = await api.call("GET", query, key="read_all")
        assert reply.status == 200
        assert len(reply.body["items"]) <= 5
        seen += [m["id"] for m in reply.body["items"]]
        pages += 1
        cursor = reply.body["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == expected
    assert seen == sorted(seen, reverse=True)  # newest first


async def test_list_filters(api: Api) -> None:
    a = await api.send(to="+15551239001", tags=["a"])
    b = await api.send(to="+15551239002", tags=["b"])
    await api.call("DELETE", f"/v1/messages/{b.body['id']}")

    async def ids(query: str) -> list[str]:
        reply = await api.call("GET", "/v1/messages?" + query, key="read_all")
        assert reply.status == 200
        return [m["id"] for m in reply.body["items"]]

    assert await ids("to=%2B15551239001") == [a.body["id"]]
    assert await ids("to=555-123-9002") == [b.body["id"]]  # national, default country 1
    assert await ids("tag=a") == [a.body["id"]]
    assert await ids("state=cancelled") == [b.body["id"]]
    assert b.body["id"] in await ids(f"state={MessageState.CANCELLED.value}&tag=b")
    now = datetime.now(UTC).isoformat()
    assert await ids(f"since={now.replace('+00:00', 'Z')}") == []
    assert set(await ids("until=2100-01-01T00:00:00Z")) >= {a.body["id"], b.body["id"]}


async def test_a_queued_message_says_why_it_waits(api: Api) -> None:
    now = await api.send()
    later = await api.send(send_at="2030-01-31T09:30:00+01:00")
    reply = await api.call("GET", f"/v1/messages/{now.body['id']}", key="read_all")
    assert reply.body["waiting"] == {"reason": "no_eligible_modem", "modem": None, "until": None}
    reply = await api.call("GET", f"/v1/messages/{later.body['id']}", key="read_all")
    assert reply.body["waiting"] == {
        "reason": "scheduled",
        "modem": None,
        "until": "2030-01-31T08:30:00.000Z",
    }
    await api.call("DELETE", f"/v1/messages/{now.body['id']}")
    reply = await api.call("GET", f"/v1/messages/{now.body['id']}", key="read_all")
    assert reply.body["waiting"] is None
