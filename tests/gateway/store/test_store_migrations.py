"""Schema upgrades: a database from before the webhook tables joined the migrations opens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.crypto import KeyRing
from gateway.store.base import DELIVERY_STATES
from gateway.store.migrations import MIGRATIONS, SCHEMA_VERSION, migrate
from gateway.store.sqlite import SqliteStore


def _version_1(db_path: Path, *, with_webhook_columns: bool) -> None:
    """A version-1 file, optionally as the webhook integration used to extend it at start."""
    raw = sqlite3.connect(db_path, isolation_level=None)
    try:
        raw.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        raw.execute("BEGIN")
        MIGRATIONS[0][1](raw)
        raw.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        if with_webhook_columns:
            raw.execute("ALTER TABLE webhook_outbox ADD COLUMN order_key TEXT NOT NULL DEFAULT ''")
            raw.execute(
                "ALTER TABLE webhook_outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'pending'"
            )
            raw.execute("ALTER TABLE webhook_outbox ADD COLUMN source TEXT")
            raw.execute("CREATE TABLE compat_messages (ref TEXT PRIMARY KEY, kind TEXT NOT NULL, "
                        "spec_enc BLOB NOT NULL, created_at REAL NOT NULL)")  # fmt: skip
        raw.execute("COMMIT")
    finally:
        raw.close()


@pytest.mark.parametrize("with_webhook_columns", [False, True])
async def test_a_version_1_database_is_upgraded(
    db_path: Path, keyring: KeyRing, with_webhook_columns: bool
) -> None:
    _version_1(db_path, with_webhook_columns=with_webhook_columns)
    store = SqliteStore(db_path, keyring)
    await store.open()
    try:
        assert await store.delivery_counts() == dict.fromkeys(DELIVERY_STATES, 0)
        assert await store.list_subscriptions() == []
        ref = await store.save_compat_spec("kannel", {"url": "http://example.org/"})
        assert ref.startswith("cmp_")
    finally:
        await store.close()
    raw = sqlite3.connect(db_path)
    try:
        assert migrate(raw) == SCHEMA_VERSION == 3
    finally:
        raw.close()
