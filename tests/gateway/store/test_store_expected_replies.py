"""Expected replies in the store: matched in the transaction that commits the text,
sealed at rest, open only while the message is out and its window lasts."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from gateway.core.replies import ReplyMatcher
from gateway.crypto import KeyRing
from gateway.store.base import ExpectedReplies, InboundPart
from gateway.store.sqlite import SqliteStore

from .conftest import NUMBER, RecordingFanout, new_message
from .test_store_at_rest import _assert_nothing_in_clear

MEANING = "reschedule-with-dr-okafor"
REPLIES = ExpectedReplies({"C": "confirmed", "R": MEANING}, 3600.0)
RULE = ReplyMatcher(lambda text: text.strip().casefold() == "stop").value


def text(body: str, key: str, at: float | None = None) -> InboundPart:
    return InboundPart("modem-a", NUMBER, body, "gsm7", at or time.time(), None, key)


async def sent(store: SqliteStore, at: float | None = None) -> str:
    message = new_message(replies=REPLIES)
    await store.add_messages([message])
    await store.segment_sending(message.id, 1, "modem-a")
    await store.segment_sent(message.id, 1, "modem-a", 7, at or time.time())
    return message.id


async def test_a_match_commits_with_its_text_or_not_at_all(db_path: Path, keyring: KeyRing) -> None:
    failing = RecordingFanout(wanted=frozenset({"reply.matched"}), fail=True)
    store = SqliteStore(db_path, keyring, fanout=failing, replies=RULE)
    await store.open()
    try:
        message_id = await sent(store)
        with pytest.raises(RuntimeError):
            await store.add_inbound(text("c", "k1"))
        assert (
            await store.list_inbound(sender=NUMBER, modem=None, cursor=None, limit=5)
        ).items == []
        found = await store.get_message(message_id)
        assert found is not None
        assert found.reply is None
    finally:
        await store.close()
    fanout = RecordingFanout(wanted=frozenset({"reply.matched", "inbound.received"}))
    store = SqliteStore(db_path, keyring, fanout=fanout, replies=RULE)
    await store.open()
    try:
        result = await store.add_inbound(text("c", "k1"))  # the same text, read again
        assert result.inbound is not None
        assert (result.inbound.in_reply_to, result.inbound.reply_value) == (message_id, "confirmed")
        found = await store.get_message(message_id)
        assert found is not None
        assert found.reply is not None
        assert (found.reply.value, found.reply.inbound_id) == ("confirmed", result.inbound.id)
        assert [c.kind for c in fanout.built] == ["inbound.received", "reply.matched"]
        assert fanout.built[1].reply == found.reply
    finally:
        await store.close()


async def test_only_a_message_that_went_out_and_whose_window_lasts_is_open(
    db_path: Path, keyring: KeyRing
) -> None:
    store = SqliteStore(db_path, keyring, replies=RULE)
    await store.open()
    try:
        await store.add_messages([new_message(replies=REPLIES)])  # still queued
        result = await store.add_inbound(text("C", "k1"))
        assert result.inbound is not None
        assert result.inbound.in_reply_to is None
        long_ago = time.time() - 7200
        await sent(store, at=long_ago)  # its hour passed
        result = await store.add_inbound(text("C", "k2"))
        assert result.inbound is not None
        assert result.inbound.in_reply_to is None
        assert await store.claim_reply_nudge(NUMBER, time.time()) is None
        open_id = await sent(store)
        result = await store.add_inbound(text("STOP", "k3"))
        assert result.inbound is not None
        assert result.inbound.in_reply_to is None
        nudge = await store.claim_reply_nudge(NUMBER, time.time())
        assert nudge is not None
        assert (nudge.message_id, nudge.keys) == (open_id, ("C", "R"))
        assert await store.claim_reply_nudge(NUMBER, time.time()) is None  # once
        result = await store.add_inbound(text(MEANING.upper(), "k4"))
        assert result.inbound is not None
        assert (result.inbound.in_reply_to, result.inbound.reply_value) == (open_id, MEANING)
        listed = await store.get_inbound(result.inbound.id)
        assert listed is not None
        assert listed.reply_value == MEANING
    finally:
        await store.close()


async def test_replies_are_sealed_at_rest_and_purged_with_their_message(
    data_dir: Path, db_path: Path, keyring: KeyRing
) -> None:
    store = SqliteStore(db_path, keyring, replies=RULE)
    await store.open()
    try:
        message_id = await sent(store)
        await store.add_inbound(text("r", "k1"))
        found = await store.get_message(message_id)
        assert found is not None
        assert found.reply is not None
        assert found.reply.value == MEANING
        _assert_nothing_in_clear(data_dir, [MEANING.encode()], keyring.lookup_hash(NUMBER))
        assert await store.purge(time.time() + 1) >= 1
    finally:
        await store.close()
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("SELECT count(*) FROM expected_replies").fetchone() == (0,)
    finally:
        raw.close()
