"""What staff read of conversations: the list, recent first, a thread, and marking it read.

The list reads ``conversations`` newest first from its ``(last_at, id)`` index, so a page
costs a page, not a scan; a thread reads messages and texts by the number's keyed hash
(the indexes lookups by number use) and merges them by time. ``unread`` counts texts
from the patient since staff last marked the thread read (``inbound`` adds each one).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Final

from gateway.crypto import KeyRing
from gateway.errors import NotFound, ValidationError
from gateway.store import expected_replies, inbound, messages
from gateway.store.base import Conversation, Inbound, Message, Thread
from gateway.store.conversations import number_aad
from gateway.store.sealing import decode_cursor, encode_cursor

_COLUMNS: Final = "sender_hash, id, modem, last_at, number_enc, unread, read_at"
# A key started a conversation when it sent the number a message (the read scope's rule,
# as for inbound texts). The unary + keeps SQLite on messages_recipient (a patient's few
# messages) rather than messages_by_key, which would walk all of the key's messages for
# every conversation listed.
_STARTED: Final = (
    "EXISTS (SELECT 1 FROM messages WHERE messages.recipient_hash = conversations.sender_hash "
    "AND +messages.api_key_id = ?)"
)
_SEPARATOR: Final = "|"


def _decode(
    conn: sqlite3.Connection, keyring: KeyRing, row: Sequence[Any], owner: str | None, now: float
) -> Conversation:
    number_hash, conversation_id, modem, last_at, number_enc, unread, read_at = row
    number = (
        ""
        if number_enc is None
        else keyring.open(number_enc, aad=number_aad(conversation_id)).decode()
    )
    return Conversation(
        id=conversation_id,
        number=number,
        number_hash=bytes(number_hash),
        modem=modem,
        last_at=last_at,
        unread=unread,
        read_at=read_at,
        open_reply=expected_replies.open_reply(conn, keyring, bytes(number_hash), now, owner),
    )


def _time_cursor(cursor: str | None) -> tuple[float, str] | None:
    """``<time>|<id>``, base64: where the previous page ended."""
    if not cursor:
        return None
    at, _, row_id = decode_cursor(cursor).rpartition(_SEPARATOR)
    try:
        return float(at), row_id
    except ValueError:
        raise ValidationError("invalid cursor", field="cursor") from None


def time_cursor(at: float, row_id: str) -> str:
    return encode_cursor(f"{at!r}{_SEPARATOR}{row_id}")


def select_page(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    *,
    cursor: str | None,
    limit: int,
    owner: str | None,
    now: float,
) -> list[Conversation]:
    where: list[str] = []
    params: list[Any] = []
    before = _time_cursor(cursor)
    if before is not None:
        where.append("(last_at, id) < (?, ?)")
        params.extend(before)
    if owner is not None:
        where.append(_STARTED)
        params.append(owner)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM conversations {clause} "  # noqa: S608
        "ORDER BY last_at DESC, id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [_decode(conn, keyring, row, owner, now) for row in rows]


def select_one(
    conn: sqlite3.Connection, keyring: KeyRing, conversation_id: str, owner: str | None, now: float
) -> Conversation | None:
    owned = "" if owner is None else f" AND {_STARTED}"
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM conversations WHERE id = ?{owned}",  # noqa: S608
        (conversation_id,) if owner is None else (conversation_id, owner),
    ).fetchone()
    return None if row is None else _decode(conn, keyring, row, owner, now)


def select_thread(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    conversation_id: str,
    *,
    cursor: str | None,
    limit: int,
    owner: str | None,
    now: float,
) -> Thread | None:
    """The newest ``limit`` items before the cursor: messages and texts read newest first
    by the number's hash, merged by time."""
    conversation = select_one(conn, keyring, conversation_id, owner, now)
    if conversation is None:
        return None
    before = _time_cursor(cursor)
    number_hash = conversation.number_hash
    sent = _messages(conn, keyring, number_hash, before, limit + 1, owner)
    received = inbound.select_thread(
        conn,
        keyring,
        number_hash,
        before=before,
        since=None if owner is None else _started_at(conn, number_hash, owner),
        limit=limit + 1,
    )
    merged: list[tuple[float, str, Message | Inbound]] = sorted(
        [(m.created_at, m.id, m) for m in sent] + [(i.received_at, i.id, i) for i in received],
        key=lambda item: (item[0], item[1]),
        reverse=True,
    )
    shown = merged[:limit]
    next_cursor = time_cursor(shown[-1][0], shown[-1][1]) if len(merged) > limit else None
    shown.reverse()
    return Thread(conversation, [item for _, _, item in shown], next_cursor)


def _started_at(conn: sqlite3.Connection, number_hash: bytes, owner: str) -> float:
    """When the key first wrote to the number: it reads the texts from then on (the read
    scope's rule for inbound texts, asked once rather than for every text)."""
    row = conn.execute(
        "SELECT min(created_at) FROM messages WHERE recipient_hash = ? AND +api_key_id = ?",
        (number_hash, owner),
    ).fetchone()
    return float(row[0]) if row[0] is not None else float("inf")


def _messages(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    number_hash: bytes,
    before: tuple[float, str] | None,
    limit: int,
    owner: str | None,
) -> list[Message]:
    """By the number's hash (messages_recipient): every message to the patient, those made
    before conversations were kept too."""
    where = ["recipient_hash = ?"]
    params: list[Any] = [number_hash]
    if before is not None:
        where.append("(created_at, id) < (?, ?)")
        params.extend(before)
    if owner is not None:
        where.append("+api_key_id = ?")  # as in _STARTED: stay on the patient's messages
        params.append(owner)
    rows = conn.execute(
        f"SELECT {messages.MESSAGE_COLUMNS} FROM messages "  # noqa: S608
        f"WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return messages.load_messages(conn, keyring, rows)


def mark_read(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    conversation_id: str,
    owner: str | None,
    at: float,
) -> Conversation:
    if select_one(conn, keyring, conversation_id, owner, at) is None:
        raise NotFound("no such conversation")
    conn.execute(
        "UPDATE conversations SET unread = 0, read_at = ? WHERE id = ?", (at, conversation_id)
    )
    found = select_one(conn, keyring, conversation_id, owner, at)
    assert found is not None
    return found
