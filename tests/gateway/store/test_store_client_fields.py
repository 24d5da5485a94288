"""What a client chose about a message (tags, metadata, idempotency key) is kept out of
clear text on disk, yet tag filters and idempotency still work, also for rows stored
before these fields were protected."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from gateway.crypto import KeyRing
from gateway.errors import IdempotencyConflict
from gateway.ids import new_id
from gateway.store.base import MessageFilter
from gateway.store.migrations import MIGRATIONS
from gateway.store.sealing import aad, dump_json
from gateway.store.sqlite import SqliteStore

from .conftest import BODY, NUMBER, new_message

TAG = "appointment-774201"
OTHER_TAG = "clinic-north-3"
META_KEY = "patient_chart_ref"
META_VALUE = "chart-55012-diabetes"
IDEMPOTENCY_KEY = "reminder-patient-99817-2026-12-03"
# The schema before client-chosen fields were hashed and sealed.
_CLEAR_FIELDS_VERSION = 4


def _needles() -> list[bytes]:
    return [s.encode() for s in (TAG, OTHER_TAG, META_KEY, META_VALUE, IDEMPOTENCY_KEY)]


def _assert_none_in_clear(data_dir: Path, keyring: KeyRing) -> None:
    files = [p for p in sorted(data_dir.iterdir()) if p.name.startswith("smsgw.db")]
    assert files
    raw = b"".join(path.read_bytes() for path in files)
    # Proof the scan sees the rows: the number's keyed hash is stored as is.
    assert keyring.lookup_hash(NUMBER) in raw
    for needle in _needles():
        assert needle not in raw, f"{needle!r} found in clear"


async def test_client_fields_are_not_in_clear_and_still_work(
    data_dir: Path, store: SqliteStore, keyring: KeyRing
) -> None:
    message = new_message(
        tags=(TAG, OTHER_TAG),
        metadata={META_KEY: META_VALUE},
        idempotency_key=IDEMPOTENCY_KEY,
        request_hash="fingerprint-1",
    )
    await store.add_messages([message, new_message(tags=("unrelated",))])
    assert (data_dir / "smsgw.db-wal").stat().st_size > 0
    _assert_none_in_clear(data_dir, keyring)

    page = await store.list_messages(MessageFilter(tag=TAG), cursor=None, limit=10)
    assert [m.id for m in page.items] == [message.id]
    assert page.items[0].tags == (TAG, OTHER_TAG)
    assert page.items[0].metadata == {META_KEY: META_VALUE}
    none = await store.list_messages(MessageFilter(tag="absent"), cursor=None, limit=10)
    assert none.items == []

    again = new_message(idempotency_key=IDEMPOTENCY_KEY, request_hash="fingerprint-1")
    (repeat,) = await store.add_messages([again])
    assert not repeat.created
    assert repeat.message.id == message.id
    with pytest.raises(IdempotencyConflict):
        await store.add_messages(
            [new_message(idempotency_key=IDEMPOTENCY_KEY, request_hash="fingerprint-2")]
        )
    await store.close()
    await store.open()
    _assert_none_in_clear(data_dir, keyring)


def _old_database(db_path: Path, keyring: KeyRing) -> str:
    """A database at the schema before this change, holding one message with clear fields."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        for _description, step in MIGRATIONS[:_CLEAR_FIELDS_VERSION]:
            step(conn)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(_CLEAR_FIELDS_VERSION),),
        )
        mid = new_id("msg")
        now = time.time()
        conn.execute(
            "INSERT INTO messages (id, recipient_enc, recipient_hash, body_enc, metadata_enc, "
            "priority, state, created_at, updated_at, send_at, encoding, segment_count, "
            "concat_ref, request_report, tags, idempotency_key, request_hash) "
            "VALUES (?, ?, ?, ?, ?, 1, 'queued', ?, ?, ?, 'gsm7', 1, 3, 1, ?, ?, ?)",
            (
                mid,
                keyring.seal(NUMBER.encode(), aad=aad("messages", "recipient", mid)),
                keyring.lookup_hash(NUMBER),
                keyring.seal(BODY.encode(), aad=aad("messages", "body", mid)),
                keyring.seal(
                    dump_json({META_KEY: META_VALUE}), aad=aad("messages", "metadata", mid)
                ),
                now,
                now,
                now,
                f'["{TAG}", "{OTHER_TAG}"]',
                IDEMPOTENCY_KEY,
                keyring.lookup_hash("smsgw.request.v1\x00fp").hex(),  # as the store keeps it
            ),
        )
        conn.execute(
            "INSERT INTO segments (message_id, seq, state) VALUES (?, 1, 'pending')", (mid,)
        )
    finally:
        conn.close()
    return mid


async def test_existing_rows_are_migrated(data_dir: Path, db_path: Path, keyring: KeyRing) -> None:
    mid = _old_database(db_path, keyring)
    store = SqliteStore(db_path, keyring)
    await store.open()
    try:
        _assert_none_in_clear(data_dir, keyring)
        page = await store.list_messages(MessageFilter(tag=OTHER_TAG), cursor=None, limit=10)
        assert [m.id for m in page.items] == [mid]
        assert page.items[0].tags == (TAG, OTHER_TAG)
        (repeat,) = await store.add_messages(
            [new_message(idempotency_key=IDEMPOTENCY_KEY, request_hash="fp")]
        )
        assert not repeat.created
        assert repeat.message.id == mid
    finally:
        await store.close()
    _assert_none_in_clear(data_dir, keyring)
