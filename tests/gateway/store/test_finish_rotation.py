"""Finishing a rotation: every sealed column re-encrypted, old keys retired only when a
last scan finds none left, the ``key.rotated`` event, and the key file watch."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway.crypto import KeyRing
from gateway.store.base import SubscriptionRecord
from gateway.store.rotation import ROTATED_EVENT, finish_rotation, watch_key_file
from gateway.store.sealing import aad
from gateway.store.sqlite import SqliteStore

from .conftest import key_ids_in_use, new_message

WITHIN = 10.0  # seconds: deadline for the watch to act


async def test_finish_rotation_reencrypts_in_batches_and_retires(
    db_path: Path, key_path: Path, keyring: KeyRing, store: SqliteStore
) -> None:
    messages = [new_message(body=f"text {i}") for i in range(11)]
    await store.add_messages(messages)
    # A webhook subscription's secret is rotated too.
    await store.add_subscription(
        SubscriptionRecord(
            "sub_1", "https://example.org/", ("modem.up",), "smsgw", None, b"s3cret", 0.0
        )
    )
    old_id = keyring.current
    new_id = keyring.rotate(key_path)
    progress: list[tuple[int, int]] = []

    result = await finish_rotation(
        store, keyring, key_path, batch=4, on_batch=lambda n, total: progress.append((n, total))
    )

    assert result.retired == (old_id,)
    assert result.rewritten == 13  # 11 messages, the secret, the recipient's conversation
    assert len(progress) >= 3  # batches of at most 4
    assert all(n <= 4 for n, _ in progress)
    assert progress[-1][1] == 13
    assert key_ids_in_use(db_path) == {new_id}
    assert KeyRing.load(key_path).key_ids == {new_id}
    got = await store.get_message(messages[9].id)
    assert got is not None
    assert got.body == "text 9"
    (blob,) = await store._read(
        lambda conn: conn.execute("SELECT secret_enc FROM webhook_subscriptions").fetchone()
    )
    assert keyring.open(blob, aad=aad("webhook_subscriptions", "secret", "sub_1")) == b"s3cret"
    [event] = (await store.list_events(cursor=None, limit=5)).items
    assert event.kind == ROTATED_EVENT
    assert event.detail == {"current": new_id, "reencrypted": 13, "retired": [old_id]}


async def test_old_keys_stay_while_an_unknown_column_still_uses_them(
    db_path: Path, key_path: Path, keyring: KeyRing, store: SqliteStore
) -> None:
    def add_table(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE extra (id INTEGER PRIMARY KEY, note_enc BLOB)")
        conn.execute("INSERT INTO extra VALUES (1, ?)", (keyring.seal(b"n", aad=b"extra"),))

    await store._write(add_table)
    old_id = keyring.current
    keyring.rotate(key_path)
    result = await finish_rotation(store, keyring, key_path, batch=10)
    assert result.retired == ()
    assert result.left == {"extra.note_enc": 1}
    assert old_id in KeyRing.load(key_path).key_ids
    assert not [e for e in (await store.list_events(cursor=None, limit=5)).items]


async def poll(check: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WITHIN
    while True:
        done = check()
        if not isinstance(done, bool):
            done = await done
        if done:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_watch_reloads_reencrypts_and_retires_when_the_file_changes(
    db_path: Path, key_path: Path, keyring: KeyRing, store: SqliteStore
) -> None:
    await store.add_messages([new_message() for _ in range(7)])
    watch = asyncio.create_task(
        watch_key_file(store, keyring, key_path, interval=0.02, batch=3), name="key-watch"
    )
    try:
        old_id = keyring.current
        new_id = KeyRing.load(key_path).rotate(key_path)  # as the CLI does
        await poll(lambda: keyring.current == new_id, "the watch to reload the ring")
        await poll(lambda: KeyRing.load(key_path).key_ids == {new_id}, "old key retired")
        assert old_id not in keyring.key_ids
        assert key_ids_in_use(db_path) == {new_id}
        # A second rotation is picked up too.
        newer = KeyRing.load(key_path).rotate(key_path)
        await poll(lambda: KeyRing.load(key_path).key_ids == {newer}, "second rotation done")
        assert key_ids_in_use(db_path) == {newer}

        async def two_rotations_recorded() -> bool:
            kinds = [e.kind for e in (await store.list_events(cursor=None, limit=10)).items]
            return kinds.count(ROTATED_EVENT) == 2  # written just after the key is retired

        await poll(two_rotations_recorded, "both key.rotated events")
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
    assert (await store.stats())["messages_queued"] == 7
