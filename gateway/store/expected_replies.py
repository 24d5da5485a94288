"""Expected replies: what a message asks the patient to answer, and the answer it got.

One row per message that declared ``replies``, beside the message (the map sealed: it can
carry clinic text; the patient's number by keyed hash, as the message's). A text from that
number is matched inside the transaction that commits it (the store's reply rule), so the
link exists with the text or not at all. A message is open while it has been handed to a
modem, its window has not passed and no answer matched it; the newest open one whose
replies the text answers takes it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from gateway.crypto import KeyRing
from gateway.store.base import (
    ExpectedReplies,
    Inbound,
    Message,
    NewMessage,
    OpenReply,
    Reply,
    ReplyNudge,
    ReplyRule,
)
from gateway.store.sealing import aad, dump_json

# Handed to a modem: the patient may have it. `sent_at` is null for an unknown one.
_OPEN = """SELECT e.message_id, e.replies_enc, e.nudged_at
FROM expected_replies e JOIN messages m ON m.id = e.message_id
WHERE e.recipient_hash = ? AND e.inbound_id IS NULL
  AND +m.state IN ('sent', 'delivered', 'unknown')
  AND coalesce(m.sent_at, m.updated_at) <= ?
  AND coalesce(m.sent_at, m.updated_at) + e.reply_window >= ?
ORDER BY coalesce(m.sent_at, m.updated_at) DESC, e.message_id DESC"""


def prepare(
    keyring: KeyRing, new: Sequence[NewMessage], to_hashes: Sequence[bytes]
) -> list[tuple[Any, ...]]:
    """Rows for the messages that expect replies, sealed on the event loop."""
    return [
        (
            m.id,
            to_hash,
            keyring.seal(dump_json(dict(m.replies.replies)), aad=_aad("replies", m.id)),
            m.replies.window,
        )
        for m, to_hash in zip(new, to_hashes, strict=True)
        if m.replies is not None
    ]


def insert(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]], skipped: set[str]) -> None:
    conn.executemany(
        "INSERT INTO expected_replies (message_id, recipient_hash, replies_enc, reply_window) "
        "VALUES (?, ?, ?, ?)",
        [row for row in rows if row[0] not in skipped],
    )


def match(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    text: Inbound,
    sender_hash: bytes,
    rule: ReplyRule,
) -> tuple[Inbound, str, Reply] | None:
    """Link ``text`` to the newest open message whose replies it answers: the text with
    its link, the message id and the reply; None when it answers none."""
    at = text.received_at
    for message_id, replies_enc, _nudged in conn.execute(_OPEN, (sender_hash, at, at)):
        value = rule(text.text, _replies(keyring, message_id, replies_enc))
        if value is None:
            continue
        reply = Reply(value=value, inbound_id=text.id, received_at=at)
        conn.execute(
            "UPDATE expected_replies SET value_enc = ?, inbound_id = ?, received_at = ? "
            "WHERE message_id = ?",
            (keyring.seal(value.encode(), aad=_aad("value", message_id)), text.id, at, message_id),
        )
        conn.execute(
            "UPDATE inbound SET in_reply_to = ?, reply_value_enc = ? WHERE id = ?",
            (
                message_id,
                keyring.seal(value.encode(), aad=aad("inbound", "reply_value", text.id)),
                text.id,
            ),
        )
        return replace(text, in_reply_to=message_id, reply_value=value), message_id, reply
    return None


def claim_nudge(
    conn: sqlite3.Connection, keyring: KeyRing, sender_hash: bytes, at: float
) -> ReplyNudge | None:
    newest = conn.execute(_OPEN, (sender_hash, at, at)).fetchone()
    if newest is None or newest[2] is not None:
        return None
    message_id, replies_enc, _ = newest
    conn.execute("UPDATE expected_replies SET nudged_at = ? WHERE message_id = ?", (at, message_id))
    return ReplyNudge(message_id, tuple(_replies(keyring, message_id, replies_enc)))


def open_reply(
    conn: sqlite3.Connection, keyring: KeyRing, recipient_hash: bytes, at: float, owner: str | None
) -> OpenReply | None:
    """The newest message still waiting for this number's answer at ``at`` (the one a
    text would answer); ``owner``: only among that API key's messages."""
    # The unary +: SQLite starts from the patient's rows of e, not from every message of
    # the key (messages_by_key), which would cost that much for each conversation listed.
    owned = "" if owner is None else " AND +m.api_key_id = ?"
    row = conn.execute(
        "SELECT e.message_id, e.replies_enc, coalesce(m.sent_at, m.updated_at) + e.reply_window "  # noqa: S608
        "FROM expected_replies e JOIN messages m ON m.id = e.message_id "
        "WHERE e.recipient_hash = ? AND e.inbound_id IS NULL "
        "AND +m.state IN ('sent', 'delivered', 'unknown') "
        "AND coalesce(m.sent_at, m.updated_at) <= ? "
        f"AND coalesce(m.sent_at, m.updated_at) + e.reply_window >= ?{owned} "
        "ORDER BY coalesce(m.sent_at, m.updated_at) DESC, e.message_id DESC LIMIT 1",
        (recipient_hash, at, at) if owner is None else (recipient_hash, at, at, owner),
    ).fetchone()
    if row is None:
        return None
    message_id, replies_enc, until = row
    return OpenReply(message_id, _replies(keyring, message_id, replies_enc), until)


def attach(conn: sqlite3.Connection, keyring: KeyRing, messages: list[Message]) -> list[Message]:
    """The messages with what they expect and got (one query for the lot)."""
    if not messages:
        return messages
    marks = ",".join("?" * len(messages))
    found = {
        row[0]: row
        for row in conn.execute(
            "SELECT message_id, replies_enc, reply_window, value_enc, inbound_id, received_at "  # noqa: S608
            f"FROM expected_replies WHERE message_id IN ({marks})",
            [m.id for m in messages],
        )
    }
    if not found:
        return messages
    return [_with(keyring, m, found[m.id]) if m.id in found else m for m in messages]


def _with(keyring: KeyRing, message: Message, row: Sequence[Any]) -> Message:
    message_id, replies_enc, window, value_enc, inbound_id, received_at = row
    expected = ExpectedReplies(_replies(keyring, message_id, replies_enc), window)
    reply = None
    if value_enc is not None:
        value = keyring.open(value_enc, aad=_aad("value", message_id)).decode()
        reply = Reply(value=value, inbound_id=inbound_id, received_at=received_at)
    return replace(message, replies=expected, reply=reply)


def reply_value(keyring: KeyRing, inbound_id: str, sealed: bytes | None) -> str | None:
    if sealed is None:
        return None
    return keyring.open(sealed, aad=aad("inbound", "reply_value", inbound_id)).decode()


def _replies(keyring: KeyRing, message_id: str, sealed: bytes) -> dict[str, str]:
    found: dict[str, str] = json.loads(keyring.open(sealed, aad=_aad("replies", message_id)))
    return found


def _aad(column: str, message_id: str) -> bytes:
    return aad("expected_replies", column, message_id)
