"""The store's side of categories and the auto-reply: one claim per conversation and
period, purged with the rest; rows from before the category columns read as care."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.crypto import KeyRing
from gateway.store.base import MessageFilter, Scope
from gateway.store.migrations import MIGRATIONS
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
    store = SqliteStore(db_path, keyring)
    await store.open()
    try:
        [added] = await store.add_messages([new_message()])
        key, _ = await store.create_api_key("ehr", frozenset({Scope.SEND}))
    finally:
        await store.close()
    raw = sqlite3.connect(db_path, isolation_level=None)
    try:  # back to the schema before these steps, as an older gateway left it
        versions = [d for d, _ in MIGRATIONS]
        before = versions.index("messages: category")
        raw.execute("DROP TABLE auto_replies")
        raw.execute("DROP TABLE suppressions")  # a later step, run again on open
        raw.execute("DROP INDEX messages_category")
        raw.execute("ALTER TABLE messages DROP COLUMN category")
        raw.execute("ALTER TABLE api_keys DROP COLUMN default_category")
        raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(before),))
    finally:
        raw.close()
    store = SqliteStore(db_path, keyring)
    await store.open()
    try:
        message = await store.get_message(added.message.id)
        assert message is not None
        assert message.category == "care"
        [listed] = await store.list_api_keys()
        assert listed.id == key.id
        assert listed.default_category == "care"
        assert await store.claim_auto_reply("conv_a", 1.0, 2.0) is True
    finally:
        await store.close()
