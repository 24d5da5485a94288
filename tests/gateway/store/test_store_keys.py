"""The store and its key: wrong key refused at open; altered or moved values refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.crypto import KeyRing
from gateway.errors import KeyFileError, StoreError
from gateway.store.sqlite import SqliteStore

from .conftest import new_message


async def test_wrong_key_is_refused_at_open(db_path: Path, store: SqliteStore) -> None:
    await store.add_messages([new_message()])
    stranger = SqliteStore(db_path, KeyRing.generate())
    with pytest.raises(KeyFileError, match="key does not match this database"):
        await stranger.open()
    # A failed open leaves nothing running; the right key still works.
    assert (await store.stats())["messages_queued"] == 1


async def test_reopen_with_the_loaded_key(db_path: Path, key_path: Path, keyring: KeyRing) -> None:
    message = new_message()
    first = SqliteStore(db_path, keyring)
    await first.open()
    await first.add_messages([message])
    await first.close()
    second = SqliteStore(db_path, KeyRing.load(key_path))
    await second.open()
    try:
        found = await second.get_message(message.id)
        assert found is not None
        assert found.body == message.body
    finally:
        await second.close()


def _raw(db_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(db_path, isolation_level=None)


async def test_tampered_ciphertext_fails_to_open(db_path: Path, store: SqliteStore) -> None:
    message = new_message()
    await store.add_messages([message])
    raw = _raw(db_path)
    try:
        (blob,) = raw.execute(
            "SELECT body_enc FROM messages WHERE id = ?", (message.id,)
        ).fetchone()
        altered = bytearray(blob)
        altered[-1] ^= 0x80
        raw.execute("UPDATE messages SET body_enc = ? WHERE id = ?", (bytes(altered), message.id))
    finally:
        raw.close()
    with pytest.raises(StoreError, match="failed authentication"):
        await store.get_message(message.id)


async def test_value_moved_to_another_row_fails_to_open(db_path: Path, store: SqliteStore) -> None:
    victim, donor = new_message(), new_message(body="a different patient's text")
    await store.add_messages([victim, donor])
    raw = _raw(db_path)
    try:
        raw.execute(
            "UPDATE messages SET body_enc = (SELECT body_enc FROM messages WHERE id = ?) "
            "WHERE id = ?",
            (donor.id, victim.id),
        )
        # ... or into another column of the same row.
        raw.execute(
            "UPDATE messages SET recipient_enc = body_enc WHERE id = ?",
            (donor.id,),
        )
    finally:
        raw.close()
    with pytest.raises(StoreError, match="failed authentication"):
        await store.get_message(victim.id)
    with pytest.raises(StoreError, match="failed authentication"):
        await store.get_message(donor.id)
