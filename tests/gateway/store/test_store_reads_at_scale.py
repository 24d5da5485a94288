"""Reads that stay fast at a million rows: each list filter is read in id order from an
index (no sort of every match), a tag from its own table, and the counts the metrics
show are kept as messages change instead of counted per scrape."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from gateway.crypto import KeyRing
from gateway.store.base import MessageFilter, MessageState, Priority
from gateway.store.messages import message_query
from gateway.store.sqlite import SqliteStore
from tests.gateway.store.conftest import new_message

# Each filter of GET /v1/messages alone, and with a cursor (the next page).
FILTERS = {
    "none": MessageFilter(),
    "state": MessageFilter(state=MessageState.QUEUED),
    "modem": MessageFilter(modem="m0"),
    "owner": MessageFilter(owner="key_a"),
    "category": MessageFilter(category="care"),
    "tag": MessageFilter(tag="campaign"),
    "owner and tag": MessageFilter(owner="key_a", tag="campaign"),
    "owner and state": MessageFilter(owner="key_a", state=MessageState.FAILED),
}


def _plan(db_path: Path, sql: str, params: list[object]) -> str:
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", [*params, 100]).fetchall()
    return " | ".join(row[3] for row in rows)


@pytest.mark.parametrize("name", list(FILTERS))
@pytest.mark.parametrize("cursor", [None, "msg_01JD0000000000000000000000"])
async def test_each_list_filter_is_read_in_id_order_without_a_sort(
    store: SqliteStore, keyring: KeyRing, db_path: Path, name: str, cursor: str | None
) -> None:
    sql, params = message_query(keyring, FILTERS[name], None, cursor)
    plan = _plan(db_path, sql, params)
    assert "TEMP B-TREE" not in plan, plan
    # A scan of the whole table is allowed only when nothing filters it (the id order).
    if name != "none":
        assert "SCAN messages" not in plan, plan


async def test_owner_and_state_together_use_one_index_for_both(
    store: SqliteStore, keyring: KeyRing, db_path: Path
) -> None:
    sql, params = message_query(keyring, FILTERS["owner and state"], None, None)
    assert "api_key_id=? AND state=?" in _plan(db_path, sql, params)


@pytest.mark.parametrize("state", [None, MessageState.QUEUED])
async def test_a_number_is_looked_up_by_its_hash_even_with_a_state(
    store: SqliteStore, keyring: KeyRing, db_path: Path, state: MessageState | None
) -> None:
    """A state's index would walk every queued id to find one patient's few messages."""
    sql, params = message_query(keyring, MessageFilter(state=state), b"hash", None)
    assert "USING INDEX messages_recipient" in _plan(db_path, sql, params)


async def test_a_rare_tag_pages_through_its_own_messages_only(store: SqliteStore) -> None:
    common = [new_message(tags=("campaign",)) for _ in range(60)]
    rare = [new_message(tags=("campaign", "rare")) for _ in range(5)]
    await store.add_messages(common[:30] + rare + common[30:])
    first = await store.list_messages(MessageFilter(tag="rare"), cursor=None, limit=3)
    rest = await store.list_messages(MessageFilter(tag="rare"), cursor=first.next_cursor, limit=3)
    found = [m.id for m in first.items + rest.items]
    assert found == sorted((m.id for m in rare), reverse=True)
    assert rest.next_cursor is None
    assert all(m.tags == ("campaign", "rare") for m in first.items + rest.items)


async def test_the_modem_filter_finds_the_messages_a_modem_took(store: SqliteStore) -> None:
    batch = [new_message() for _ in range(6)]
    await store.add_messages(batch)
    for message in batch[:2]:
        await store.segment_sending(message.id, 1, "m0")
    await store.segment_sending(batch[2].id, 1, "m1")
    page = await store.list_messages(MessageFilter(modem="m0"), cursor=None, limit=10)
    assert [m.id for m in page.items] == [batch[1].id, batch[0].id]


def _counted(db_path: Path) -> dict[tuple[str, int], int]:
    """The truth the kept counts must equal: a count of the table."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT state, priority, count(*) FROM messages GROUP BY 1, 2")
        return {(state, priority): n for state, priority, n in rows}


def _kept(db_path: Path) -> dict[tuple[str, int], int]:
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(
            "SELECT state, priority, sum(n) FROM message_counts GROUP BY 1, 2 HAVING sum(n) > 0"
        )
        return {(state, priority): n for state, priority, n in rows}


async def test_counts_are_kept_through_sends_failures_cancels_and_purges(
    store: SqliteStore, db_path: Path
) -> None:
    batch = [new_message(priority=Priority(i % 3)) for i in range(12)]
    await store.add_messages(batch)
    queued = {(MessageState.QUEUED.value, priority): 4 for priority in range(3)}
    assert _kept(db_path) == _counted(db_path) == queued
    await store.segment_sending(batch[0].id, 1, "m0")
    await store.segment_sent(batch[0].id, 1, "m0", 7, time.time())
    await store.segment_sending(batch[1].id, 1, "m0")
    await store.finish(batch[1].id, MessageState.FAILED, error_code="x", error_text="x")
    await store.cancel_message(batch[2].id)
    await store.segment_sending(batch[3].id, 1, "m1")
    await store.requeue(batch[3].id, send_at=time.time(), error_code="x", error_text="x")
    assert _kept(db_path) == _counted(db_path)
    stats = await store.stats()
    assert stats["messages_queued"] == 9
    assert stats["messages_sent"] == stats["messages_failed"] == stats["messages_cancelled"] == 1
    assert stats["queued_urgent"] + stats["queued_normal"] + stats["queued_bulk"] == 9
    assert await store.purge(time.time() + 1) == 3
    assert _kept(db_path) == _counted(db_path)


async def test_oldest_due_is_the_earliest_send_time_already_due(store: SqliteStore) -> None:
    now = time.time()
    await store.add_messages(
        [new_message(send_at=now - 30), new_message(send_at=now - 5), new_message(send_at=now + 60)]
    )
    assert await store.oldest_due(now) == pytest.approx(now - 30)
    assert await store.oldest_due(now - 100) is None


def test_a_keys_inbound_view_checks_the_patients_messages_not_all_the_keys() -> None:
    """Whether a text answers a conversation the key started is asked of the sender's
    few messages (messages_recipient), never of every message that key ever sent."""
    from gateway.store import inbound
    from gateway.store.migrations import migrate

    conn = sqlite3.connect(":memory:")
    migrate(conn)
    sql = f"SELECT id FROM inbound WHERE {inbound._STARTED_BY} ORDER BY id DESC LIMIT 5"  # noqa: S608
    plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("key_a",)))
    conn.close()
    assert "messages_recipient" in plan, plan
    assert "messages_by_key" not in plan, plan
