"""Key rotation, retention purge, statistics, events and schema versions."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import cast

import pytest

from gateway.crypto import KeyRing
from gateway.errors import StoreError, ValidationError
from gateway.store.base import AddResult, InboundPart, MessageState, Priority
from gateway.store.migrations import SCHEMA_VERSION
from gateway.store.sqlite import SqliteStore

from .conftest import key_ids_in_use, new_message


def wal_size(db_path: Path) -> int:
    return Path(f"{db_path}-wal").stat().st_size


def _key_ids_in_use(db_path: Path) -> set[str]:
    return key_ids_in_use(db_path)


async def test_rotate_key_reseals_everything_in_batches(
    store: SqliteStore, db_path: Path, key_path: Path, keyring: KeyRing
) -> None:
    messages = [new_message(body=f"text {i}", metadata={"i": i}) for i in range(23)]
    await store.add_messages(messages)
    await store.add_inbound(InboundPart("m1", "+15550100", "hello", "gsm7", 1.0, None, "d1"))
    await store.add_inbound(
        InboundPart("m1", "+15550100", "half", "gsm7", 1.0, None, "d2", 3, 2, 1)
    )
    await store.add_event("modem.down", "m1", {"reason": "unplugged"})
    old_id = keyring.current
    new_id = keyring.rotate(key_path)

    before_commits = store.commit_count
    rewritten = await store.rotate_key(batch=5)
    # messages, inbound, a part, an event, and the two numbers' conversations
    assert rewritten == 23 + 1 + 1 + 1 + 2
    assert store.commit_count - before_commits >= 6  # one transaction per batch
    assert _key_ids_in_use(db_path) == {new_id}
    assert await store.rotate_key(batch=5) == 0

    got = await store.get_message(messages[7].id)
    assert got is not None
    assert got.body == "text 7"
    assert got.metadata == {"i": 7}
    [event] = (await store.list_events(cursor=None, limit=5)).items
    assert event.detail == {"reason": "unplugged"}
    # Lookups by number survive the rotation, and the store reopens with the new file.
    assert (await store.list_inbound(sender="+15550100", modem=None, cursor=None, limit=5)).items
    await store.close()
    reopened = SqliteStore(db_path, KeyRing.load(key_path))
    await reopened.open()
    try:
        assert old_id in reopened.keyring.key_ids
        again = await reopened.get_message(messages[0].id)
        assert again is not None
        assert again.body == "text 0"
    finally:
        await reopened.close()


async def test_purge_removes_old_final_rows_only(store: SqliteStore, db_path: Path) -> None:
    old_done, old_queued, recent_done = new_message(), new_message(), new_message()
    await store.add_messages([old_done, old_queued, recent_done])
    await store.finish(old_done.id, MessageState.FAILED, error_code="x", error_text="y")
    await store.finish(recent_done.id, MessageState.FAILED, error_code="x", error_text="y")
    await store.add_inbound(InboundPart("m1", "+15550100", "old", "gsm7", 100.0, None, "o1"))
    await store.add_event("modem.up", "m1", {})
    raw = sqlite3.connect(db_path, isolation_level=None)
    try:
        raw.execute("UPDATE messages SET updated_at = 100.0 WHERE id != ?", (recent_done.id,))
        raw.execute("UPDATE events SET at = 100.0")
    finally:
        raw.close()

    deleted = await store.purge(older_than=1000.0)
    assert deleted == 2  # one message, one inbound
    assert await store.get_message(old_done.id) is None
    assert await store.get_message(old_queued.id) is not None  # never purge what is pending
    assert await store.get_message(recent_done.id) is not None
    assert (await store.list_inbound(sender=None, modem=None, cursor=None, limit=5)).items == []
    assert (await store.list_events(cursor=None, limit=5)).items == []
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("SELECT count(*) FROM segments").fetchone()[0] == 2
    finally:
        raw.close()
    assert wal_size(db_path) == 0  # checkpointed and truncated


async def test_stats(store: SqliteStore) -> None:
    now = time.time()
    urgent = new_message(priority=Priority.URGENT)
    await store.add_messages([urgent, new_message(), new_message(priority=Priority.BULK)])
    await store.segment_sending(urgent.id, 1, "m1")
    stats = await store.stats()
    assert stats["messages_queued"] == 2
    assert stats["messages_sending"] == 1
    assert stats["messages_delivered"] == 0
    assert (stats["queued_urgent"], stats["queued_normal"], stats["queued_bulk"]) == (0, 1, 1)
    assert now - 2 <= stats["oldest_queued_created_at"] <= now + 2
    assert stats["unmatched_reports"] == 0
    assert stats["db_bytes"] > 4096


async def test_events_page_newest_first(store: SqliteStore) -> None:
    for i in range(5):
        await store.add_event("modem.error", f"m{i}", {"n": i})
    first = await store.list_events(cursor=None, limit=3)
    assert [e.detail["n"] for e in first.items] == [4, 3, 2]
    assert first.next_cursor is not None
    rest = await store.list_events(cursor=first.next_cursor, limit=3)
    assert [e.modem for e in rest.items] == ["m1", "m0"]
    assert rest.next_cursor is None
    with pytest.raises(ValidationError):
        await store.list_events(cursor="bm90LWEtbnVtYmVy", limit=3)


async def test_schema_version_recorded_and_newer_refused(db_path: Path, keyring: KeyRing) -> None:
    store = SqliteStore(db_path, keyring)
    await store.open()
    await store.close()
    raw = sqlite3.connect(db_path, isolation_level=None)
    try:
        (version,) = raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert int(version) == SCHEMA_VERSION
        raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
    finally:
        raw.close()
    with pytest.raises(StoreError, match="newer than this gateway"):
        await store.open()


@pytest.mark.parametrize(("durable", "synchronous"), [(True, 2), (False, 1)])
async def test_connection_settings(
    db_path: Path, keyring: KeyRing, durable: bool, synchronous: int
) -> None:
    store = SqliteStore(db_path, keyring, durable=durable)
    await store.open()
    try:
        assert store._write_thread is not None
        settings = await store._write_thread.run(
            lambda conn: [
                conn.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous", "secure_delete")
            ],
        )
        assert settings == ["wal", synchronous, 1]
        [result] = await store.add_messages([new_message()])
        assert await store.get_message(result.message.id) == result.message
    finally:
        await store.close()


async def test_rotation_runs_beside_writes(
    store: SqliteStore, db_path: Path, key_path: Path, keyring: KeyRing
) -> None:
    await store.add_messages([new_message() for _ in range(40)])
    new_id = keyring.rotate(key_path)
    late = [new_message(body=f"late {i}") for i in range(10)]
    _, *results = await asyncio.gather(
        store.rotate_key(batch=7), *(store.add_messages([m]) for m in late)
    )
    added = cast(list[list[AddResult]], results)
    assert all(result.created for [result] in added)
    assert _key_ids_in_use(db_path) == {new_id}
    got = await store.get_message(late[3].id)
    assert got is not None
    assert got.body == "late 3"
