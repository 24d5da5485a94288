"""What a client chose about a message besides its number and text: tags and the
idempotency key, kept as keyed hashes for lookups, and the tags' display values sealed.

Integrators put appointment and patient ids in these, so none of them may reach the
file in clear. The hashes are keyed like number lookups and domain-separated from
them, so a tag's hash cannot be matched against a number's or a key's. The HMAC key
does not rotate, so the hashes outlive key rotations; the sealed tags rotate with
the other ``_enc`` columns.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Final

from gateway.crypto import KeyRing
from gateway.store.sealing import aad, dump_json

_TAG_DOMAIN: Final = "smsgw.tag.v1\x00"
_IDEMPOTENCY_DOMAIN: Final = "smsgw.idempotency.v1\x00"
LEGACY_BATCH: Final = 500  # rows converted per transaction at open


def tag_hash(keyring: KeyRing, tag: str) -> str:
    """Hex, as the elements of ``messages.tag_hashes`` (a JSON array) hold it."""
    return keyring.lookup_hash(_TAG_DOMAIN + tag).hex()


def tag_hashes(keyring: KeyRing, tags: Sequence[str]) -> str | None:
    return json.dumps([tag_hash(keyring, tag) for tag in tags]) if tags else None


def seal_tags(keyring: KeyRing, message_id: str, tags: Sequence[str]) -> bytes | None:
    if not tags:
        return None
    return keyring.seal(dump_json(list(tags)), aad=aad("messages", "tags", message_id))


def open_tags(keyring: KeyRing, message_id: str, blob: bytes | None) -> tuple[str, ...]:
    if blob is None:
        return ()
    return tuple(json.loads(keyring.open(blob, aad=aad("messages", "tags", message_id))))


def idempotency_hash(keyring: KeyRing, key: str) -> bytes:
    return keyring.lookup_hash(_IDEMPOTENCY_DOMAIN + key)


CONVERTED_FLAG = "client_fields_converted"  # meta key: nothing is left in clear


def convert_legacy_once(conn: sqlite3.Connection, keyring: KeyRing) -> int:
    """:func:`convert_legacy` until it has once found nothing left, then never again: its
    search reads every message (there is no index on the old columns), and nothing
    writes them any more, so a store of a million would pay that at every start."""
    if conn.execute("SELECT 1 FROM meta WHERE key = ?", (CONVERTED_FLAG,)).fetchone():
        return 0
    converted = convert_legacy(conn, keyring)
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '1')", (CONVERTED_FLAG,))
    return converted


def convert_legacy(conn: sqlite3.Connection, keyring: KeyRing, *, batch: int = LEGACY_BATCH) -> int:
    """Hash and seal what older versions stored in clear (``messages.tags`` and
    ``messages.idempotency_key``), emptying those columns; returns rows converted.

    Runs at open, after the migrations, in transactions of ``batch`` rows, so a crash
    part-way leaves rows either converted or still to do. ``secure_delete`` zeroes the
    cells the old values leave, and a converted store is checkpointed so that the
    write-ahead log holds no page that still had them."""
    converted = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(
                "SELECT id, tags, idempotency_key FROM messages "
                "WHERE tags IS NOT NULL OR idempotency_key IS NOT NULL LIMIT ?",
                (batch,),
            ).fetchall()
            for mid, tags, key in rows:
                clear_tags = tuple(json.loads(tags)) if tags else ()
                conn.execute(
                    "UPDATE messages SET tags = NULL, idempotency_key = NULL, tags_enc = ?, "
                    "tag_hashes = ?, idempotency_hash = ? WHERE id = ?",
                    (
                        seal_tags(keyring, mid, clear_tags),
                        tag_hashes(keyring, clear_tags),
                        None if key is None else idempotency_hash(keyring, key),
                        mid,
                    ),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        converted += len(rows)
        if len(rows) < batch:
            break
    if converted:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return converted
