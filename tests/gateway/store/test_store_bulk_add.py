"""Large batches: multi-row INSERTs across chunk boundaries, all or nothing."""

from __future__ import annotations

import pytest

from gateway.errors import IdempotencyConflict
from gateway.store import messages
from gateway.store.base import MessageFilter, MessageState
from gateway.store.sqlite import SqliteStore
from tests.gateway.store.conftest import new_message

COUNT = 1201
# With this limit, 64 messages (19 parameters each) or 512 segments (2 each) per
# INSERT: COUNT messages and their ~2,400 segments take several statements each,
# the last of each padded.
SMALL_PARAMS_PER_INSERT = 1900


async def test_a_batch_larger_than_one_insert_is_stored_whole(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages, "PARAMS_PER_INSERT", SMALL_PARAMS_PER_INSERT)
    batch = [
        new_message(segment_count=1 + i % 3, tags=("t",) if i % 2 else ()) for i in range(COUNT)
    ]
    results = await store.add_messages(batch)
    assert [r.message.id for r in results] == [m.id for m in batch]
    assert all(r.created for r in results)
    for index in (0, 63, 64, 511, 512, 1000, COUNT - 1):
        stored = await store.get_message(batch[index].id)
        assert stored is not None
        assert stored.state is MessageState.QUEUED
        assert len(stored.segments) == batch[index].segment_count
        assert stored.tags == batch[index].tags
        assert stored.body == batch[index].body
    assert len(await store.queued()) == COUNT


async def test_the_largest_statement_sqlite_is_given_is_accepted(store: SqliteStore) -> None:
    count = 1025  # 1,024 rows (19 parameters each) a statement, and one more
    batch = [new_message(segment_count=8) for _ in range(count)]  # 8,200 segments: two too
    results = await store.add_messages(batch)
    assert len(results) == count
    assert len(await store.queued()) == count
    for message in (batch[0], batch[1023], batch[1024]):
        stored = await store.get_message(message.id)
        assert stored is not None
        assert stored.body == message.body
        assert [s.seq for s in stored.segments] == list(range(1, 9))


@pytest.mark.parametrize("count", [1, 3, 16, 17])
async def test_padding_rows_are_never_stored(store: SqliteStore, count: int) -> None:
    batch = [new_message(segment_count=2) for _ in range(count)]
    await store.add_messages(batch)
    assert sorted(item.id for item in await store.queued()) == sorted(m.id for m in batch)
    page = await store.list_messages(MessageFilter(), cursor=None, limit=100)
    assert len(page.items) == count
    assert all(len(m.segments) == 2 for m in page.items)


async def test_a_conflict_late_in_a_large_batch_stores_none_of_it(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages, "PARAMS_PER_INSERT", SMALL_PARAMS_PER_INSERT)
    await store.add_messages([new_message(idempotency_key="k", request_hash="h1")])
    batch = [new_message() for _ in range(COUNT)]
    batch.append(new_message(idempotency_key="k", request_hash="h2"))
    with pytest.raises(IdempotencyConflict):
        await store.add_messages(batch)
    assert await store.get_message(batch[0].id) is None
    assert await store.get_message(batch[700].id) is None
    assert len(await store.queued()) == 1


async def test_added_messages_carry_the_number_hash_the_queue_reads(store: SqliteStore) -> None:
    await store.add_messages([new_message(idempotency_key="k", request_hash="h")])
    batch = [new_message(to=f"+1555000{i:04d}") for i in range(3)]
    batch.append(new_message(idempotency_key="k", request_hash="h"))
    results = await store.add_messages(batch)
    queued = {item.id: item.to_hash for item in await store.queued()}
    for message, result in zip(batch[:3], results[:3], strict=True):
        assert result.to_hash == store.number_hash(message.to)
        assert result.to_hash == queued[message.id]
    assert len({r.to_hash for r in results[:3]}) == 3
    assert (results[3].created, results[3].to_hash) == (False, None)  # a replay: not made
