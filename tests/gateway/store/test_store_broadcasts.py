"""Broadcasts in the store: rows sealed, a row never expanded twice, counts by aggregate,
a paused broadcast's messages held, key rotation and retention reaching the new tables."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.errors import Conflict, StoreError
from gateway.ids import new_id
from gateway.store.base import (
    Broadcast,
    BroadcastState,
    Expansion,
    MessageState,
    NewRecipient,
    Priority,
)
from gateway.store.sqlite import SqliteStore

from .conftest import key_ids_in_use, new_message
from .test_store_at_rest import _assert_nothing_in_clear

PATIENT = "Ana Maria Lopez-Okafor"


def broadcast() -> Broadcast:
    now = time.time()
    return Broadcast(
        id=new_id("bc"),
        name="flu 2026",
        body="Hello {name}",
        template="flu",
        columns=("name",),
        category="reminder",
        replies=None,
        send_at=None,
        api_key_id="key_a",
        state=BroadcastState.INTAKE,
        total=0,
        created_at=now,
        updated_at=now,
    )


def row(seq: int, to: str, *, error: str | None = None) -> NewRecipient:
    return NewRecipient(seq, to, None if error else to, {"name": PATIENT}, error)


async def opened(store: SqliteStore, rows: list[NewRecipient]) -> str:
    made = broadcast()
    await store.broadcasts.create(made)
    await store.broadcasts.add_recipients(made.id, rows)
    await store.broadcasts.open(made.id, total=len(rows), actor="key_a", action="broadcast.create")
    return made.id


async def test_rows_are_sealed_and_duplicates_and_bad_rows_kept_apart(
    store: SqliteStore, data_dir: Path
) -> None:
    rows = [
        row(1, "+15550001111"),
        row(2, "+15550002222"),
        row(3, "+15550001111"),  # the number of row 1
        row(4, "12", error="invalid_number"),
    ]
    bid = await opened(store, rows)
    counts = await store.broadcasts.counts(bid)
    assert (counts.total, counts.pending, counts.duplicate, counts.invalid) == (4, 2, 1, 1)
    exported = await store.broadcasts.recipients(bid, after=1, limit=10)
    assert [(r.seq, r.state, r.error_code) for r in exported] == [
        (2, "pending", None),
        (3, "duplicate", None),
        (4, "invalid", "invalid_number"),
    ]
    assert exported[0].variables == {"name": PATIENT}
    _assert_nothing_in_clear(
        data_dir, [PATIENT.encode(), b"+15550001111", b"flu 2026"], bid.encode()
    )


async def test_a_row_is_never_expanded_twice(store: SqliteStore) -> None:
    bid = await opened(store, [row(1, "+15550001111"), row(2, "+15550002222")])
    first = new_message(priority=Priority.BULK)
    results = await store.broadcasts.expand(
        bid, [Expansion(1, first)], actor="key_a", action="message.send"
    )
    assert results is not None
    assert [r.message.id for r in results] == [first.id]
    assert [p.seq for p in await store.broadcasts.pending(bid, 10)] == [2]
    again = new_message(priority=Priority.BULK)
    with pytest.raises(StoreError):
        await store.broadcasts.expand(bid, [Expansion(1, again)], actor="key_a", action="x")
    assert await store.get_message(again.id) is None  # rolled back with the refusal


async def test_a_paused_broadcast_expands_nothing_and_its_messages_are_held(
    store: SqliteStore,
) -> None:
    bid = await opened(store, [row(1, "+15550001111"), row(2, "+15550002222")])
    first = new_message(priority=Priority.BULK)
    await store.broadcasts.expand(bid, [Expansion(1, first)], actor="key_a", action="x")
    paused = await store.broadcasts.set_state(
        bid, BroadcastState.PAUSED, owner="key_a", actor="key_a", action="broadcast.pause"
    )
    assert paused.state is BroadcastState.PAUSED
    assert await store.broadcasts.held() == frozenset({first.id})
    assert await store.broadcasts.paused() == frozenset({bid})
    second = new_message(priority=Priority.BULK)
    assert (
        await store.broadcasts.expand(bid, [Expansion(2, second)], actor="key_a", action="x")
        is None
    )
    await store.broadcasts.set_state(
        bid, BroadcastState.CANCELLED, owner=None, actor="a", action="broadcast.cancel"
    )
    with pytest.raises(Conflict):
        await store.broadcasts.set_state(
            bid, BroadcastState.RUNNING, owner=None, actor="a", action="broadcast.resume"
        )
    assert await store.broadcasts.cancel_queued(bid, 10) == [first.id]
    message = await store.get_message(first.id)
    assert message is not None
    assert message.state is MessageState.CANCELLED
    counts = await store.broadcasts.counts(bid)
    assert (counts.cancelled, counts.pending, counts.queued) == (2, 0, 0)
    assert await store.broadcasts.paused() == frozenset()


async def test_another_keys_broadcast_is_not_found(store: SqliteStore) -> None:
    bid = await opened(store, [row(1, "+15550001111")])
    assert await store.broadcasts.get(bid, owner="key_b") is None
    assert (await store.broadcasts.get(bid, owner="key_a")) is not None
    page = await store.broadcasts.page(owner="key_b", cursor=None, limit=10)
    assert page.items == []


async def test_rotation_reseals_and_retention_purges_the_rows(
    store: SqliteStore, db_path: Path, key_path: Path
) -> None:
    bid = await opened(store, [row(1, "+15550001111")])
    new_key = store.keyring.rotate(key_path)
    await store.rotate_key()
    assert key_ids_in_use(db_path) == {new_key}
    assert await store.broadcasts.get(bid) is not None
    await store.purge(time.time() + 10)  # a row still pending: kept
    assert await store.broadcasts.get(bid) is not None
    await store.broadcasts.set_state(
        bid, BroadcastState.CANCELLED, owner=None, actor="a", action="x"
    )
    await store.purge(time.time() + 10)
    assert await store.broadcasts.get(bid) is None
    assert await store.broadcasts.recipients(bid, after=0, limit=10) == []
