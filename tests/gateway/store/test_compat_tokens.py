"""No API token is kept for Twilio status callbacks: they are signed with a secret
derived from the key ring per API key, and tokens stored by older versions (in the
sealed callback specs and in pending callback rows) are dropped when the store opens."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from gateway.crypto import KeyRing
from gateway.store import compat, outbox
from gateway.store.sealing import dump_json
from gateway.store.sqlite import SqliteStore

TOKEN = "sgw_key_01ABC_the-clients-full-api-token"
KEY_ID = "key_01ABC"
URL = "http://127.0.0.1:9/status"


def _plaintexts(db_path: Path, keyring: KeyRing) -> list[dict[str, object]]:
    raw = sqlite3.connect(db_path)
    try:
        specs = [
            json.loads(keyring.open(sealed, aad=compat.spec_aad(ref)))
            for ref, sealed in raw.execute("SELECT ref, spec_enc FROM compat_messages")
        ]
        payloads = [
            json.loads(keyring.open(sealed, aad=outbox.payload_aad(row_id)))
            for row_id, sealed in raw.execute("SELECT id, payload_enc FROM webhook_outbox")
        ]
    finally:
        raw.close()
    return [*specs, *payloads]


async def test_callback_secrets_are_per_key_stable_and_not_the_token(
    db_path: Path, keyring: KeyRing, key_path: Path
) -> None:
    store = SqliteStore(db_path, keyring)
    await store.open()
    try:
        secret = store.callback_secret(KEY_ID)
        assert secret == store.callback_secret(KEY_ID)
        assert secret != store.callback_secret("key_01OTHER")
        assert len(secret) >= 32
        assert TOKEN not in secret
    finally:
        await store.close()
    reopened = SqliteStore(db_path, KeyRing.load(key_path))
    await reopened.open()
    try:
        assert reopened.callback_secret(KEY_ID) == secret  # clients keep what they configured
    finally:
        await reopened.close()


async def test_tokens_stored_by_an_older_version_are_dropped(
    db_path: Path, keyring: KeyRing
) -> None:
    store = SqliteStore(db_path, keyring)
    await store.open()
    ref = await store.save_compat_spec(
        "twilio", {"account_sid": KEY_ID, "token": TOKEN, "url": URL}
    )
    await store.close()
    # What an older version wrote: a pending callback row carrying the token, and the
    # schema version from before the tokens were dropped.
    payload = {
        "url": URL,
        "token": TOKEN,
        "params": {"AccountSid": KEY_ID, "MessageStatus": "sent"},
    }
    raw = sqlite3.connect(db_path, isolation_level=None)
    try:
        raw.execute(
            "INSERT INTO webhook_outbox (id, created_at, subscriber, kind, payload_enc, next_at) "
            "VALUES (?, ?, 'cb:twilio', 'message.sent', ?, ?)",
            (
                "whd_old",
                time.time(),
                keyring.seal(dump_json(payload), aad=outbox.payload_aad("whd_old")),
                time.time(),
            ),
        )
        # What the upgrade step records for the next open (the step itself needs no key).
        raw.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('compat_tokens_pending', '1')"
        )
    finally:
        raw.close()
    store = SqliteStore(db_path, keyring)
    await store.open()
    await store.close()
    found = _plaintexts(db_path, keyring)
    assert TOKEN not in json.dumps(found)
    [spec, row] = found
    assert spec == {"account_sid": KEY_ID, "key_id": KEY_ID, "url": URL}
    assert row == {
        "url": URL,
        "key_id": KEY_ID,
        "params": {"AccountSid": KEY_ID, "MessageStatus": "sent"},
    }
    assert ref
