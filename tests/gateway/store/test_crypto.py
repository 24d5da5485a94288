"""KeyRing: file creation and checks, sealing with associated data, rotation."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from gateway.crypto import KeyRing, key_id_of
from gateway.errors import KeyFileError, StoreError


def test_create_writes_a_private_key_file_and_refuses_to_overwrite(key_path: Path) -> None:
    ring = KeyRing.create(key_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    document = json.loads(key_path.read_text())
    assert document["version"] == 1
    assert document["current"] == ring.current
    assert set(document["keys"]) == {ring.current}
    assert "hmac" in document
    before = key_path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        KeyRing.create(key_path)
    assert key_path.read_bytes() == before
    assert [p.name for p in key_path.parent.iterdir()] == [key_path.name]  # no temp left


def test_load_round_trips(key_path: Path) -> None:
    ring = KeyRing.create(key_path)
    loaded = KeyRing.load(key_path)
    blob = ring.seal(b"hello", aad=b"t.c.1")
    assert loaded.open(blob, aad=b"t.c.1") == b"hello"
    assert loaded.lookup_hash("+15550100") == ring.lookup_hash("+15550100")


def test_load_refuses_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        KeyRing.load(tmp_path / "nope.json")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_load_refuses_group_or_other_access(key_path: Path, mode: int) -> None:
    KeyRing.create(key_path)
    key_path.chmod(mode)
    with pytest.raises(KeyFileError, match=f"chmod 600 {key_path}"):
        KeyRing.load(key_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file away")
def test_load_refuses_a_file_owned_by_someone_else(key_path: Path) -> None:
    KeyRing.create(key_path)
    os.chown(key_path, 65534, -1)
    with pytest.raises(KeyFileError, match="owned by uid 65534"):
        KeyRing.load(key_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'{"version": 2}', "version 2"),
        (b'{"version": 1, "current": "a", "keys": {}}', "no valid 'current'"),
        (b'{"version": 1, "current": "a", "keys": {"a": "AAAA"}, "hmac": "x"}', "not 32 bytes"),
        (b'{"version": 1, "current": "a", "keys": {"a": "!!"}}', "not base64"),
    ],
)
def test_load_refuses_malformed_files(key_path: Path, content: bytes, message: str) -> None:
    fd = os.open(key_path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, content)
    os.close(fd)
    with pytest.raises(KeyFileError, match=message):
        KeyRing.load(key_path)


def test_sealed_value_is_bound_to_its_place(keyring: KeyRing) -> None:
    blob = keyring.seal(b"+4915112345678", aad=b"messages.recipient.msg_1")
    assert b"4915112345678" not in blob
    assert keyring.open(blob, aad=b"messages.recipient.msg_1") == b"+4915112345678"
    with pytest.raises(StoreError, match="failed authentication"):
        keyring.open(blob, aad=b"messages.recipient.msg_2")
    with pytest.raises(StoreError, match="failed authentication"):
        keyring.open(blob, aad=b"messages.body.msg_1")
    tampered = bytearray(blob)
    tampered[-20] ^= 0x01
    with pytest.raises(StoreError, match="failed authentication"):
        keyring.open(bytes(tampered), aad=b"messages.recipient.msg_1")
    with pytest.raises(StoreError):
        keyring.open(blob[:10], aad=b"messages.recipient.msg_1")


def test_same_plaintext_seals_differently(keyring: KeyRing) -> None:
    assert keyring.seal(b"x", aad=b"a") != keyring.seal(b"x", aad=b"a")


def test_value_from_another_key_ring_is_refused(keyring: KeyRing) -> None:
    other = KeyRing.generate()
    with pytest.raises(KeyFileError, match="not in the key file"):
        keyring.open(other.seal(b"x", aad=b"a"), aad=b"a")


def test_rotate_adds_a_current_key_and_keeps_old_values_readable(
    key_path: Path, keyring: KeyRing
) -> None:
    old_id = keyring.current
    old_blob = keyring.seal(b"before", aad=b"a")
    hash_before = keyring.lookup_hash("+15550100")
    new_id = keyring.rotate(key_path)
    assert new_id != old_id
    assert keyring.current == new_id
    assert key_id_of(keyring.seal(b"after", aad=b"a")) == new_id
    assert keyring.open(old_blob, aad=b"a") == b"before"
    assert keyring.lookup_hash("+15550100") == hash_before  # lookups survive rotation
    reloaded = KeyRing.load(key_path)
    assert reloaded.current == new_id
    assert reloaded.key_ids == {old_id, new_id}
    assert reloaded.open(old_blob, aad=b"a") == b"before"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in key_path.parent.iterdir()) == [key_path.name]


def test_retire_drops_old_keys_from_ring_and_file(key_path: Path, keyring: KeyRing) -> None:
    old_id = keyring.current
    old_blob = keyring.seal(b"before", aad=b"a")
    new_id = keyring.rotate(key_path)
    assert keyring.retire(key_path) == [old_id]
    assert keyring.key_ids == {new_id}
    assert KeyRing.load(key_path).key_ids == {new_id}
    with pytest.raises(KeyFileError, match="not in the key file"):
        keyring.open(old_blob, aad=b"a")
    assert keyring.retire(key_path) == []
