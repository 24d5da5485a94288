"""Large batches: multi-row INSERTs across chunk boundaries, all or nothing."""

from __future__ import annotations

import pytest

from gateway.errors import IdempotencyConflict
from gateway.store.base import MessageState
from gateway.store.sqlite import SqliteStore
from tests.gateway.store.conftest import new_message

# More than two INSERT chunks of messages and of segments (500 rows each).
COUNT = 1201


async def test_a_batch_larger_than_one_insert_is_stored_whole(store: SqliteStore) -> None:
    batch = [
        new_message(segment_count=1 + i % 3, tags=("t",) if i % 2 else ()) for i in range(COUNT)
    ]
    results = await store.add_messages(batch)
    assert [r.message.id for r in results] == [m.id for m in batch]
    assert all(r.created for r in results)
    for index in (0, 499, 500, 1000, COUNT - 1):
        stored = await store.get_message(batch[index].id)
        assert stored is not None
        assert stored.state is MessageState.QUEUED
        assert len(stored.segments) == batch[index].segment_count
        assert stored.tags == batch[index].tags
        assert stored.body == batch[index].body
    assert len(await store.queued()) == COUNT


async def test_a_conflict_late_in_a_large_batch_stores_none_of_it(store: SqliteStore) -> None:
    await store.add_messages([new_message(idempotency_key="k", request_hash="h1")])
    batch = [new_message() for _ in range(COUNT)]
    batch.append(new_message(idempotency_key="k", request_hash="h2"))
    with pytest.raises(IdempotencyConflict):
        await store.add_messages(batch)
    assert await store.get_message(batch[0].id) is None
    assert await store.get_message(batch[700].id) is None
    assert len(await store.queued()) == 1
