"""Messages: add, read back, list with filters and cursors, idempotency, group commit."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import pytest

from gateway.errors import IdempotencyConflict, ValidationError
from gateway.store.base import MessageFilter, MessageState, Priority, SegmentState
from gateway.store.sqlite import SqliteStore

from .conftest import BODY, NUMBER, new_message


async def test_added_message_reads_back(store: SqliteStore) -> None:
    new = new_message(
        segment_count=2,
        tags=("reminder", "clinic-3"),
        metadata={"patient_ref": "p-77", "n": 3},
        priority=Priority.URGENT,
        api_key_id="key_x",
    )
    [result] = await store.add_messages([new])
    assert result.created
    assert result.message.state is MessageState.QUEUED
    stored = await store.get_message(new.id)
    assert stored == result.message
    assert stored.to == NUMBER
    assert stored.body == BODY
    assert stored.metadata == {"patient_ref": "p-77", "n": 3}
    assert stored.tags == ("reminder", "clinic-3")
    assert [s.seq for s in stored.segments] == [1, 2]
    assert all(s.state is SegmentState.PENDING for s in stored.segments)
    assert await store.get_message("msg_missing") is None


async def test_list_newest_first_with_cursor_and_filters(store: SqliteStore) -> None:
    added = [
        new_message(to=f"+4930123456{i:02d}", tags=("even",) if i % 2 == 0 else ())
        for i in range(7)
    ]
    await store.add_messages(added)
    ids = [m.id for m in added]

    seen: list[str] = []
    cursor = None
    while True:
        page = await store.list_messages(MessageFilter(), cursor=cursor, limit=3)
        seen.extend(m.id for m in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ids[::-1]

    by_number = await store.list_messages(MessageFilter(to="+493012345603"), cursor=None, limit=10)
    assert [m.id for m in by_number.items] == [ids[3]]
    tagged = await store.list_messages(MessageFilter(tag="even"), cursor=None, limit=10)
    assert [m.id for m in tagged.items] == [ids[6], ids[4], ids[2], ids[0]]
    queued = await store.list_messages(
        MessageFilter(state=MessageState.QUEUED), cursor=None, limit=100
    )
    assert len(queued.items) == 7
    assert queued.next_cursor is None
    none = await store.list_messages(MessageFilter(state=MessageState.SENT), cursor=None, limit=5)
    assert none.items == []
    with pytest.raises(ValidationError):
        await store.list_messages(MessageFilter(), cursor="!!not-base64", limit=5)


async def test_idempotency_returns_earlier_message_or_conflicts(store: SqliteStore) -> None:
    first = new_message(idempotency_key="k1", api_key_id="key_a", request_hash="h1")
    [created] = await store.add_messages([first])
    assert created.created

    again = new_message(idempotency_key="k1", api_key_id="key_a", request_hash="h1")
    [repeat] = await store.add_messages([again])
    assert not repeat.created
    assert repeat.message.id == first.id
    assert await store.get_message(again.id) is None

    with pytest.raises(IdempotencyConflict):
        await store.add_messages(
            [new_message(idempotency_key="k1", api_key_id="key_a", request_hash="h2")]
        )
    # The same key under another API key is another request.
    [other] = await store.add_messages(
        [new_message(idempotency_key="k1", api_key_id="key_b", request_hash="h2")]
    )
    assert other.created


async def test_idempotency_conflict_fails_whole_batch(store: SqliteStore) -> None:
    await store.add_messages([new_message(idempotency_key="k", request_hash="h1")])
    innocent = new_message()
    with pytest.raises(IdempotencyConflict):
        await store.add_messages([innocent, new_message(idempotency_key="k", request_hash="h2")])
    assert await store.get_message(innocent.id) is None


async def test_same_key_twice_in_one_batch(store: SqliteStore) -> None:
    a = new_message(idempotency_key="dup", request_hash="h")
    b = new_message(idempotency_key="dup", request_hash="h")
    results = await store.add_messages([a, b])
    assert [r.created for r in results] == [True, False]
    assert results[1].message.id == a.id


async def test_concurrent_adds_are_group_committed(store: SqliteStore) -> None:
    before = store.commit_count
    calls = 50
    results = await asyncio.gather(*(store.add_messages([new_message()]) for _ in range(calls)))
    assert all(r[0].created for r in results)
    commits = store.commit_count - before
    assert 1 <= commits < calls
    # Every caller's message is committed: a fresh read sees all of them.
    page = await store.list_messages(MessageFilter(), cursor=None, limit=100)
    assert len(page.items) == calls


async def test_failed_job_does_not_spoil_its_group(store: SqliteStore) -> None:
    await store.add_messages([new_message(idempotency_key="g", request_hash="1")])
    good = new_message()
    outcomes = await asyncio.gather(
        store.add_messages([new_message(idempotency_key="g", request_hash="2")]),
        store.add_messages([good]),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], IdempotencyConflict)
    assert await store.get_message(good.id) is not None


async def test_the_request_fingerprint_is_stored_keyed(store: SqliteStore, db_path: Path) -> None:
    # A plain hash of (number, text, ...) could be reversed by trying every number
    # against a known template text: only an HMAC under the key file is stored.
    fingerprint = hashlib.sha256(b"+15559876543|Your results are ready").hexdigest()
    await store.add_messages([new_message(idempotency_key="k", request_hash=fingerprint)])
    with sqlite3.connect(db_path) as conn:
        (stored,) = conn.execute("SELECT request_hash FROM messages").fetchone()
    assert stored != fingerprint
    assert fingerprint not in stored
    replay = await store.add_messages([new_message(idempotency_key="k", request_hash=fingerprint)])
    assert replay[0].created is False
