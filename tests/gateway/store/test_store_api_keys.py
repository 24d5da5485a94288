"""API keys: tokens verify, only a hash is stored, revocation takes effect at once."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from gateway.store import api_keys
from gateway.store.base import Scope
from gateway.store.sqlite import SqliteStore
from tests.support import poll_until


async def test_create_verify_revoke(store: SqliteStore, db_path: Path) -> None:
    key, token = await store.create_api_key("ehr", frozenset({Scope.SEND, Scope.READ}))
    assert token.startswith(f"sgw_{key.id}_")
    assert len(token.split("_", 3)[3]) >= 43  # 32 random bytes, urlsafe base64
    assert await store.verify_api_key(token) == key
    assert await store.verify_api_key(token) == key  # from the cache

    raw = sqlite3.connect(db_path)
    try:
        stored = raw.execute("SELECT secret_hash FROM api_keys").fetchall()
    finally:
        raw.close()
    assert len(stored) == 1
    assert token.split("_", 3)[3].encode() not in stored[0][0]

    revoked = await store.revoke_api_key(key.id)
    assert revoked.revoked_at is not None
    verified = await store.verify_api_key(token)  # still its token; the caller refuses it
    assert verified is not None
    assert verified.revoked_at is not None
    [listed] = await store.list_api_keys()
    assert listed.id == key.id
    assert listed.revoked_at is not None


async def test_wrong_or_malformed_tokens_fail(store: SqliteStore) -> None:
    key, token = await store.create_api_key("portal", frozenset({Scope.ADMIN}))
    secret = token.split("_", 3)[3]
    wrong_secret = token[: -len(secret)] + ("A" if secret[0] != "A" else "B") + secret[1:]
    for bad in (
        wrong_secret,
        "",
        "sgw_",
        "Bearer " + token,
        token.replace(key.id, "key_00000000000000000000000000"),
        "sgw_key_x",
    ):
        assert await store.verify_api_key(bad) is None, bad
    assert await store.verify_api_key(token) == key


async def test_new_key_verifies_in_a_second_store_on_the_same_file(
    store: SqliteStore, db_path: Path
) -> None:
    other = SqliteStore(db_path, store.keyring)
    await other.open()
    try:
        key, token = await other.create_api_key("cli-made", frozenset({Scope.READ}))
        assert await store.verify_api_key(token) == key
    finally:
        await other.close()


async def test_revocation_elsewhere_is_seen_at_the_next_fingerprint_check(
    store: SqliteStore, db_path: Path
) -> None:
    key, token = await store.create_api_key("ehr", frozenset({Scope.SEND}))
    assert await store.verify_api_key(token) == key
    other = SqliteStore(db_path, store.keyring)
    await other.open()
    try:
        await other.revoke_api_key(key.id)
    finally:
        await other.close()
    started = time.monotonic()

    async def refused() -> bool:
        verified = await store.verify_api_key(token)
        return verified is not None and verified.revoked_at is not None

    await poll_until(refused, "the revocation to be seen", 5.0)
    assert time.monotonic() - started < api_keys.CHECK_SECONDS + 1.0
