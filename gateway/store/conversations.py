"""Conversations made and kept: one per patient's number, for messages too.

A conversation is keyed by the number's keyed hash (the row ``inbound`` has always made
for texts), and since messages carry a ``conversation_id`` a message to a number that
never wrote makes one too, in the transaction that adds it. The number is sealed for
display; lookups never need it. ``last_at`` moves with every message either way.
What staff read of them is in :mod:`gateway.store.threads`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from gateway.crypto import KeyRing
from gateway.ids import new_id
from gateway.store.sealing import aad


def number_aad(conversation_id: str) -> bytes:
    return aad("conversations", "number", conversation_id)


def for_recipients(
    conn: sqlite3.Connection, keyring: KeyRing, recipients: Iterable[tuple[bytes, str]], at: float
) -> dict[bytes, str]:
    """The conversation of each (number hash, number), made where there is none; each one's
    ``last_at`` moved to ``at``. Runs in the transaction that adds the messages."""
    wanted = dict(recipients)
    found: dict[bytes, str] = {}
    hashes = list(wanted)
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(
            (bytes(row[0]), str(row[1]))
            for row in conn.execute(
                f"SELECT sender_hash, id FROM conversations WHERE sender_hash IN ({marks})",  # noqa: S608
                chunk,
            )
        )
    conn.executemany(
        "UPDATE conversations SET last_at = max(last_at, ?) WHERE sender_hash = ?",
        [(at, number_hash) for number_hash in found],
    )
    made = []
    for number_hash, number in wanted.items():
        if number_hash in found:
            continue
        conversation_id = new_id("conv")
        found[number_hash] = conversation_id
        sealed = keyring.seal(number.encode(), aad=number_aad(conversation_id))
        made.append((number_hash, conversation_id, at, sealed))
    conn.executemany(
        "INSERT INTO conversations (sender_hash, id, modem, last_at, number_enc) "
        "VALUES (?, ?, NULL, ?, ?)",
        made,
    )
    return found


def seal_legacy_numbers(conn: sqlite3.Connection, keyring: KeyRing) -> int:
    """Conversations from before numbers were kept get theirs from a text of the patient
    (every one of them came from a text). At open, once the key is proven."""
    rows = conn.execute(
        "SELECT c.id, i.id, i.sender_enc FROM conversations c JOIN inbound i "
        "ON i.id = (SELECT id FROM inbound WHERE sender_hash = c.sender_hash LIMIT 1) "
        "WHERE c.number_enc IS NULL"
    ).fetchall()
    if not rows:
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
