"""Key file reloads: in place for every holder, checked like a load, and the store's
single reload-and-retry when a value names a key its ring does not hold."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from gateway.crypto import KeyRing, key_id_of
from gateway.errors import KeyFileError, UnknownKey
from gateway.store.sealing import aad
from gateway.store.sqlite import SqliteStore

from .conftest import BODY, key_ids_in_use, new_message


def count_reloads(ring: KeyRing, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    calls: list[bool] = []
    real = ring.reload

    def counted() -> bool:
        changed = real()
        calls.append(changed)
        return changed

    monkeypatch.setattr(ring, "reload", counted)
    return calls


def test_reload_adopts_a_rotation_in_place(key_path: Path, keyring: KeyRing) -> None:
    holder = keyring  # e.g. the store: it keeps the same object
    other = KeyRing.load(key_path)  # another process
    old_id = keyring.current
    new_id = other.rotate(key_path)
    sealed_elsewhere = other.seal(b"from the other process", aad=b"a")
    assert holder.reload() is True
    assert holder.current == new_id
    assert holder.key_ids == {old_id, new_id}
    assert key_id_of(holder.seal(b"x", aad=b"a")) == new_id
    assert holder.open(sealed_elsewhere, aad=b"a") == b"from the other process"
    assert holder.reload() is False  # nothing changed since


def test_reload_checks_the_file_like_load(key_path: Path, keyring: KeyRing) -> None:
    before = keyring.key_ids
    KeyRing.load(key_path).rotate(key_path)
    os.chmod(key_path, 0o644)
    with pytest.raises(KeyFileError, match="accessible by group or others"):
        keyring.reload()
    assert keyring.key_ids == before
    os.chmod(key_path, 0o600)
    # Another gateway's key file (another lookup key) would break every stored hash.
    key_path.unlink()
    KeyRing.create(key_path)
    with pytest.raises(KeyFileError, match="another gateway"):
        keyring.reload()
    assert keyring.key_ids == before
    with pytest.raises(KeyFileError, match="not loaded from a file"):
        KeyRing.generate().reload()


def test_rotate_keeps_keys_from_the_file_and_retire_respects_a_newer_rotation(
    key_path: Path, keyring: KeyRing
) -> None:
    stale = KeyRing.load(key_path)
    first = keyring.rotate(key_path)
    # A ring that missed the first rotation still keeps its key in the file.
    second = stale.rotate(key_path)
    on_disk = KeyRing.load(key_path)
    assert on_disk.current == second
    assert first in on_disk.key_ids
    # This ring seals with `first`, but the file has moved on: retiring must not drop it.
    assert keyring.retire(key_path) == []
    assert KeyRing.load(key_path).key_ids == on_disk.key_ids
    assert sorted(p.name for p in key_path.parent.iterdir()) == [key_path.name]


async def test_unknown_key_reloads_once_then_reads_and_writes_succeed(
    db_path: Path, key_path: Path, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reloads = count_reloads(store.keyring, monkeypatch)
    # Another process rotates the file and writes with the new key.
    other_ring = KeyRing.load(key_path)
    new_id = other_ring.rotate(key_path)
    other = SqliteStore(db_path, other_ring)
    await other.open()
    try:
        read_me, cancel_me = new_message(body="sealed elsewhere"), new_message()
        await other.add_messages([read_me, cancel_me])
    finally:
        await other.close()

    got = await store.get_message(read_me.id)  # read path
    assert got is not None
    assert got.body == "sealed elsewhere"
    assert reloads == [True]
    assert store.keyring.current == new_id
    cancelled = await store.cancel_message(cancel_me.id)  # write path: now known, no reload
    assert cancelled.body == BODY
    assert reloads == [True]
    [result] = await store.add_messages([new_message()])
    assert key_ids_in_use(db_path) >= {new_id}
    assert (await store.get_message(result.message.id)) is not None


async def test_unknown_key_on_the_write_path_reloads_and_retries(
    db_path: Path, key_path: Path, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reloads = count_reloads(store.keyring, monkeypatch)
    other_ring = KeyRing.load(key_path)
    other_ring.rotate(key_path)
    other = SqliteStore(db_path, other_ring)
    await other.open()
    try:
        message = new_message()
        await other.add_messages([message])
    finally:
        await other.close()
    cancelled = await store.cancel_message(message.id)
    assert cancelled.body == BODY
    assert reloads == [True]


async def test_a_key_the_file_lacks_fails_after_one_reload(
    db_path: Path, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = new_message()
    await store.add_messages([message])
    stranger = KeyRing.generate()
    raw = sqlite3.connect(db_path, isolation_level=None)
    try:
        raw.execute(
            "UPDATE messages SET body_enc = ? WHERE id = ?",
            (stranger.seal(b"x", aad=aad("messages", "body", message.id)), message.id),
        )
    finally:
        raw.close()
    reloads = count_reloads(store.keyring, monkeypatch)
    with pytest.raises(UnknownKey, match="not in the key file") as caught:
        await store.get_message(message.id)
    assert caught.value.code == "key_file"  # the API's answer is unchanged
    assert reloads == [False]
    with pytest.raises(UnknownKey):
        await store.cancel_message(message.id)
    assert reloads == [False, False]


def test_key_file_stays_valid_json_with_owner_only_mode(key_path: Path, keyring: KeyRing) -> None:
    keyring.rotate(key_path)
    keyring.retire(key_path)
    document = json.loads(key_path.read_bytes())
    assert list(document["keys"]) == [keyring.current]
    assert key_path.stat().st_mode & 0o077 == 0
