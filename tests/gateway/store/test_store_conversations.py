"""Conversations in the store: made by a message or a text, counted unread, paged, and
kept from a database that had them before messages did."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from gateway.crypto import KeyRing
from gateway.store import expected_replies, threads
from gateway.store.base import Inbound, InboundPart, Message
from gateway.store.migrations import MIGRATIONS, migrate
from gateway.store.sealing import aad
from gateway.store.sqlite import SqliteStore
from tests.gateway.store.conftest import NUMBER, new_message


def _part(text: str, key: str, *, at: float, seq: int | None = None) -> InboundPart:
    if seq is None:
        return InboundPart("m1", NUMBER, text, "gsm7", at, None, key)
    return InboundPart("m1", NUMBER, text, "gsm7", at, None, key, 9, 2, seq)


async def test_a_message_makes_the_thread_and_a_text_joins_it(store: SqliteStore) -> None:
    [added] = await store.add_messages([new_message()])
    conversation_id = added.message.conversation_id
    assert conversation_id is not None
    assert await store.conversation_modem(store.number_hash(NUMBER)) is None  # nobody wrote
    got = await store.add_inbound(_part("Thanks", "d1", at=time.time()))
    assert got.inbound is not None
    assert got.inbound.conversation_id == conversation_id
    assert await store.conversation_modem(store.number_hash(NUMBER)) == "m1"
    [again] = await store.add_messages([new_message()])
    assert again.message.conversation_id == conversation_id
    stored = await store.get_message(again.message.id)
    assert stored is not None
    assert stored.conversation_id == conversation_id
    [listed] = (await store.list_conversations(cursor=None, limit=10)).items
    assert (listed.id, listed.number, listed.unread) == (conversation_id, NUMBER, 1)
    assert listed.last_at == stored.created_at


async def test_a_long_text_counts_once_and_read_clears_it(store: SqliteStore) -> None:
    now = time.time()
    await store.add_inbound(_part("first half, ", "p1", at=now, seq=1))
    [waiting] = (await store.list_conversations(cursor=None, limit=10)).items
    assert waiting.unread == 0  # a part alone is no text yet
    await store.add_inbound(_part("second half", "p2", at=now, seq=2))
    [whole] = (await store.list_conversations(cursor=None, limit=10)).items
    assert whole.unread == 1
    read = await store.mark_conversation_read(whole.id)
    assert (read.unread, read.read_at is not None) == (0, True)


async def test_a_thread_pages_back_in_time(store: SqliteStore) -> None:
    [sent] = await store.add_messages([new_message(body="one")])
    conversation_id = sent.message.conversation_id
    assert conversation_id is not None
    await store.add_inbound(_part("two", "d2", at=time.time()))
    await store.add_messages([new_message(body="three")])
    newest = await store.conversation_thread(conversation_id, cursor=None, limit=2)
    assert newest is not None
    assert [_words(item) for item in newest.items] == ["two", "three"]
    assert newest.next_cursor is not None
    older = await store.conversation_thread(conversation_id, cursor=newest.next_cursor, limit=2)
    assert older is not None
    assert [_words(item) for item in older.items] == ["one"]
    assert older.next_cursor is None


def _words(item: Message | Inbound) -> str:
    return item.body if isinstance(item, Message) else item.text


async def test_an_older_database_keeps_its_threads(db_path: Path, keyring: KeyRing) -> None:
    """A conversation made by a text before this version gets its number at open, and an
    earlier message to that number joins it."""
    raw = sqlite3.connect(db_path, isolation_level=None)
    raw.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
    before = next(i for i, (name, _) in enumerate(MIGRATIONS) if name.startswith("conversations:"))
    for version, (_, step) in enumerate(MIGRATIONS[:before], start=1):
        step(raw)
        raw.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))
    number_hash = keyring.lookup_hash(NUMBER)
    raw.execute("INSERT INTO conversations VALUES (?, 'conv_old', 'm1', 100.0)", (number_hash,))
    raw.execute(
        "INSERT INTO inbound (id, modem, sender_enc, sender_hash, text_enc, encoding, "
        "received_at, parts, complete, conversation_id) "
        "VALUES ('in_old', 'm1', ?, ?, ?, 'gsm7', 100.0, 1, 1, 'conv_old')",
        (
            keyring.seal(NUMBER.encode(), aad=aad("inbound", "sender", "in_old")),
            number_hash,
            keyring.seal(b"hello", aad=aad("inbound", "text", "in_old")),
        ),
    )
    raw.execute(
        "INSERT INTO messages (id, recipient_enc, recipient_hash, body_enc, priority, state, "
        "created_at, updated_at, send_at, encoding, segment_count, concat_ref, request_report) "
        "VALUES ('msg_old', ?, ?, ?, 1, 'delivered', 200.0, 200.0, 200.0, 'gsm7', 1, 1, 1)",
        (
            keyring.seal(NUMBER.encode(), aad=aad("messages", "recipient", "msg_old")),
            number_hash,
            keyring.seal(b"see you", aad=aad("messages", "body", "msg_old")),
        ),
    )
    raw.close()
    store = SqliteStore(db_path, keyring)
    await store.open()
    try:
        [listed] = (await store.list_conversations(cursor=None, limit=10)).items
        assert (listed.id, listed.number, listed.modem, listed.last_at) == (
            "conv_old",
            NUMBER,
            "m1",
            200.0,
        )
        assert await store.conversation_modem(number_hash) == "m1"
        thread = await store.conversation_thread("conv_old", cursor=None, limit=10)
        assert thread is not None
        assert [item.id for item in thread.items] == ["in_old", "msg_old"]
    finally:
        await store.close()
    check = sqlite3.connect(db_path)
    try:
        migrate(check)  # already current: nothing to do
    finally:
        check.close()


def test_the_list_reads_its_index_and_a_key_check_reads_the_patients_messages() -> None:
    """A page costs a page at any size: no sort of every conversation, and the read scope's
    check looks at the patient's messages, not at every message the key ever sent."""
    conn = sqlite3.connect(":memory:")
    migrate(conn)
    for owner in (None, "key_1"):
        where = "" if owner is None else f"WHERE {threads._STARTED}"
        plan = [
            row[3]
            for row in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT {threads._COLUMNS} FROM conversations {where} "  # noqa: S608
                "ORDER BY last_at DESC, id DESC LIMIT 51",
                [] if owner is None else [owner],
            )
        ]
        assert plan[0] == "SCAN conversations USING INDEX conversations_recent", plan
        assert not any("TEMP B-TREE" in step for step in plan), plan
        assert owner is None or any("messages_recipient" in step for step in plan), plan
    conn.close()


def test_the_open_reply_of_a_keys_view_starts_from_the_patient(keyring: KeyRing) -> None:
    conn = sqlite3.connect(":memory:")
    migrate(conn)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    assert expected_replies.open_reply(conn, keyring, b"h", time.time(), "key_1") is None
    conn.set_trace_callback(None)
    [statement] = statements
    plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}")]
    assert plan[0].startswith("SEARCH e USING INDEX expected_replies_open"), plan
    assert not any("messages_by_key" in step for step in plan), plan
    conn.close()


def test_the_reply_a_text_answers_is_found_from_the_patients_open_rows() -> None:
    """The search ``add_inbound`` runs for every text: from the patient's open rows,
    never from every message in a state (a million queued ones at scale)."""
    conn = sqlite3.connect(":memory:")
    migrate(conn)
    plan = [
        row[3]
        for row in conn.execute(f"EXPLAIN QUERY PLAN {expected_replies._OPEN}", (b"h", 1.0, 1.0))
    ]
    assert plan[0].startswith("SEARCH e USING INDEX expected_replies_open"), plan
    assert not any("messages_state" in step for step in plan), plan
    conn.close()


async def test_a_keys_thread_holds_its_messages_and_the_texts_after_its_first(
    store: SqliteStore,
) -> None:
    await store.add_inbound(_part("before anyone wrote", "d1", at=time.time() - 60))
    await store.add_messages([new_message(body="someone else's", api_key_id="key_2")])
    [mine] = await store.add_messages([new_message(body="mine", api_key_id="key_1")])
    await store.add_inbound(_part("after", "d2", at=time.time()))
    conversation_id = mine.message.conversation_id
    assert conversation_id is not None
    seen = await store.conversation_thread(conversation_id, cursor=None, limit=10, owner="key_1")
    assert seen is not None
    assert [_words(item) for item in seen.items] == ["mine", "after"]
    everything = await store.conversation_thread(conversation_id, cursor=None, limit=10)
    assert everything is not None
    assert len(everything.items) == 4
    assert (
        await store.conversation_thread(conversation_id, cursor=None, limit=10, owner="k3") is None
    )
