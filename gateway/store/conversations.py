"""Conversations made and kept: one per patient's number, for messages too.

A conversation is keyed by the number's keyed hash (the row ``inbound`` has always made
for texts), and since messages carry a ``conversation_id`` a message to a number that
never wrote makes one too, in the transaction that adds it. The number is sealed for
display; lookups never need it. ``last_at`` moves with every message either way.
What staff read of them is in :mod:`gateway.store.threads`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, Final

from gateway.crypto import KeyRing
from gateway.ids import new_id
from gateway.store.sealing import aad


def number_aad(conversation_id: str) -> bytes:
    return aad("conversations", "number", conversation_id)


# Numbers per statement: a SELECT or UPDATE takes one parameter a number, an INSERT four.
# Counts are padded to a power of two (as the messages' multi-row inserts are), so a few
# statement shapes at most are cached.
_CHUNK: Final = 512
_SELECT = "SELECT sender_hash, id FROM conversations WHERE sender_hash IN ({})"
_TOUCH = "UPDATE conversations SET last_at = max(last_at, ?) WHERE sender_hash IN ({})"
_INSERT = """INSERT INTO conversations (sender_hash, id, last_at, number_enc)
SELECT * FROM (VALUES {}) WHERE column1 IS NOT NULL"""


def for_recipients(
    conn: sqlite3.Connection, keyring: KeyRing, recipients: Iterable[tuple[bytes, str]], at: float
) -> dict[bytes, str]:
    """The conversation of each (number hash, number), made where there is none; each one's
    ``last_at`` moved to ``at``. Runs in the transaction that adds the messages, a few
    statements a batch; only a new conversation's number is sealed."""
    wanted = dict(recipients)
    hashes = list(wanted)
    found: dict[bytes, str] = {}
    for start in range(0, len(hashes), _CHUNK):
        sql, params = _padded(_SELECT, 1, [(h,) for h in hashes[start : start + _CHUNK]])
        found.update((bytes(h), str(i)) for h, i in conn.execute(sql, params))
    known = list(found)
    for start in range(0, len(known), _CHUNK):
        sql, params = _padded(_TOUCH, 1, [(h,) for h in known[start : start + _CHUNK]])
        conn.execute(sql, [at, *params])
    made: list[tuple[Any, ...]] = []
    for number_hash, number in wanted.items():
        if number_hash not in found:
            conversation_id = new_id("conv")
            found[number_hash] = conversation_id
            sealed = keyring.seal(number.encode(), aad=number_aad(conversation_id))
            made.append((number_hash, conversation_id, at, sealed))
    for start in range(0, len(made), _CHUNK):
        conn.execute(*_padded(_INSERT, 4, made[start : start + _CHUNK]))
    return found


def _padded(statement: str, width: int, rows: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """``statement`` for ``rows`` padded with NULLs up to a power of two, so a few shapes
    at most are cached: a NULL key matches no row, and a NULL row is not inserted."""
    shape = 1
    while shape < len(rows):
        shape *= 2
    params = [value for row in rows for value in row]
    params.extend([None] * (width * (shape - len(rows))))
    return _statement(statement, width, shape), params


@lru_cache(maxsize=32)
def _statement(statement: str, width: int, shape: int) -> str:
    marks = "?" if width == 1 else f"({', '.join('?' * width)})"
    return statement.format(", ".join([marks] * shape))


_SEALED_FLAG: Final = "conversation_numbers_sealed"


def seal_legacy_numbers(conn: sqlite3.Connection, keyring: KeyRing) -> int:
    """Conversations from before numbers were kept get theirs from a text of the patient
    (every one of them came from a text). At open, once the key is proven, until it has
    once found nothing left: every conversation made since is sealed when made, and the
    search reads the whole table, which a large store should not pay at every start."""
    if conn.execute("SELECT 1 FROM meta WHERE key = ?", (_SEALED_FLAG,)).fetchone():
        return 0
    rows = conn.execute(
        "SELECT c.id, i.id, i.sender_enc FROM conversations c JOIN inbound i "
        "ON i.id = (SELECT id FROM inbound WHERE sender_hash = c.sender_hash LIMIT 1) "
        "WHERE c.number_enc IS NULL"
    ).fetchall()
    if not rows:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '1')", (_SEALED_FLAG,))
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        for conversation_id, inbound_id, sender_enc in rows:
            number = keyring.open(sender_enc, aad=aad("inbound", "sender", inbound_id))
            conn.execute(
                "UPDATE conversations SET number_enc = ? WHERE id = ?",
                (keyring.seal(number, aad=number_aad(conversation_id)), conversation_id),
            )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return len(rows)
