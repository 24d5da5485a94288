"""The store's side of categories and the auto-reply: one claim per conversation and
period, purged with the rest; rows from before the category columns read as care."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from gateway.crypto import KeyRing
from gateway.store.base import MessageFilter
from gateway.store.migrations import MIGRATIONS
from gateway.store.sealing import aad
from gateway.store.sqlite import SqliteStore

from .conftest import new_message


async def test_a_conversation_is_claimed_once_per_closed_period(store: SqliteStore) -> None:
    assert await store.claim_auto_reply("conv_a", 1000.0, 1001.0) is True
    assert await store.claim_auto_reply("conv_a", 1000.0, 1500.0) is False
    assert await store.claim_auto_reply("conv_b", 1000.0, 1501.0) is True
    assert await store.claim_auto_reply("conv_a", 2000.0, 2001.0) is True
    await store.purge(1600.0)
    assert await store.claim_auto_reply("conv_a", 1000.0, 2500.0) is True  # purged: a new row
    assert await store.claim_auto_reply("conv_a", 2000.0, 2501.0) is False


async def test_the_category_is_stored_and_filtered(store: SqliteStore) -> None:
    [survey] = await store.add_messages([new_message(category="survey")])
    [care] = await store.add_messages([new_message()])
    loaded = await store.get_message(survey.message.id)
    assert loaded is not None
    assert loaded.category == "survey"
    [queued_survey, queued_care] = sorted(await store.queued(), key=lambda q: q.id)
    assert (queued_survey.category, queued_care.category) == ("survey", "care")
    page = await store.list_messages(MessageFilter(category="care"), cursor=None, limit=10)
    assert [m.id for m in page.items] == [care.message.id]


async def test_rows_from_before_the_categories_read_as_care(
    db_path: Path, keyring: KeyRing
) -> None:
    before = [d for d, _ in MIGRATIONS].index("messages: category")
    raw = sqlite3.connect(db_path, isolation_level=None)
    try:  # a database an older gateway left: the schema up to the step before categories
        raw.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        for _description, step in MIGRATIONS[:before]:
            step(raw)
        raw.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(before),))
        now = time.time()
        raw.execute(
            "INSERT INTO messages (id, recipient_enc, recipient_hash, body_enc, metadata_enc, "
            "priority, state, created_at, updated_at, send_at, encoding, segment_count, "
            "concat_ref, request_report) "
            "VALUES ('msg_old', ?, ?, ?, ?, 1, 'queued', ?, ?, ?, 'gsm7', 1, 3, 1)",
            (
                keyring.seal(b"+15551230001", aad=aad("messages", "recipient", "msg_old")),
                keyring.lookup_hash("+15551230001"),
                keyring.seal(b"old", aad=aad("messages", "body", "msg_old")),
                keyring.seal(b"{}", aad=aad("messages", "metadata", "msg_old")),
                now,
                now,
                now,
            ),
        )
        raw.execute(
            "INSERT INTO segments (message_id, seq, state) VALUES ('msg_old', 1, 'pending')"
        )
        raw.execute(
            "INSERT INTO api_keys (id, name, scopes, secret_hash, created_at) "
            "VALUES ('key_old', 'ehr', 'send', ?, ?)",
            (b"\0" * 32, now),
        )
    finally:
        raw.close()
    store = SqliteStore(db_path, keyring)
    await store.open()
    try:
        message = await store.get_message("msg_old")
        assert message is not None
        assert message.category == "care"
        [listed] = await store.list_api_keys()
        assert listed.id == "key_old"
        assert listed.default_category == "care"
        assert await store.claim_auto_reply("conv_a", 1.0, 2.0) is True
    finally:
        await store.close()
