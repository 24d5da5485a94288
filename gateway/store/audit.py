"""The audit trail: who did what to the gateway, each entry chained to the one before.

Each row stores ``hash = SHA-256(prev_hash || canonical JSON of [id, at, actor,
action, subject, seal])`` where ``seal`` is an HMAC, under the key ring's lookup
key, of the same fields plus the plaintext detail. The detail itself is sealed
(it may quote an AT command, which may carry a number) and bound to its row.

Why a keyed digest inside a plain chain: re-encrypting the detail under a new
key (rotation) changes the ciphertext but not the plaintext, so the chain still
verifies afterwards; and someone who can write the database but lacks the key
file cannot rewrite an entry and recompute the chain after it. The newest
entry's id and hash are also kept in ``meta``, so removing entries from the end
is noticed too.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any, Final

from gateway.crypto import KeyRing
from gateway.errors import AuditBroken, KeyFileError, StoreError
from gateway.store.base import AuditEntry
from gateway.store.sealing import aad, dump_json

GENESIS: Final = bytes(32)  # prev_hash of the first entry
HEAD_KEY: Final = "audit_head"  # meta row: "<id>:<hash hex>" of the newest entry
_SEAL_DOMAIN: Final = "smsgw.audit.v1\x00"
_COLUMNS: Final = "id, at, actor, action, subject, detail_enc, prev_hash, hash"


def canonical(value: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, floats as Python writes them."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_hash(
    keyring: KeyRing,
    prev_hash: bytes,
    entry_id: int,
    at: float,
    actor: str,
    action: str,
    subject: str | None,
    detail: dict[str, Any],
) -> bytes:
    fields: list[Any] = [entry_id, at, actor, action, subject]
    seal = keyring.lookup_hash(_SEAL_DOMAIN + canonical([*fields, detail]).decode("ascii")).hex()
    return hashlib.sha256(prev_hash + canonical([*fields, seal])).digest()


def _head(conn: sqlite3.Connection) -> tuple[int, bytes] | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (HEAD_KEY,)).fetchone()
    if row is None:
        return None
    raw = row[0].decode() if isinstance(row[0], bytes) else str(row[0])
    entry_id, _, digest = raw.partition(":")
    try:
        return int(entry_id), bytes.fromhex(digest)
    except ValueError:
        raise AuditBroken("the audit trail's head record is damaged") from None


def insert(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    at: float,
    actor: str,
    action: str,
    subject: str | None,
    detail: dict[str, Any],
) -> int:
    """Runs inside the writer's transaction, so no other entry can slip in between."""
    last = conn.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    prev_hash = bytes(last[0]) if last is not None else GENESIS
    # The row id is part of both the associated data and the hash: known after the insert.
    entry_id = conn.execute(
        "INSERT INTO audit (at, actor, action, subject, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
        (at, actor, action, subject, prev_hash, b""),
    ).lastrowid
    assert entry_id is not None
    digest = entry_hash(keyring, prev_hash, entry_id, at, actor, action, subject, detail)
    conn.execute(
        "UPDATE audit SET detail_enc = ?, hash = ? WHERE id = ?",
        (keyring.seal(dump_json(detail), aad=aad("audit", "detail", entry_id)), digest, entry_id),
    )
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        (HEAD_KEY, f"{entry_id}:{digest.hex()}".encode()),
    )
    return entry_id


def _detail(keyring: KeyRing, entry_id: int, detail_enc: bytes | None) -> dict[str, Any]:
    if detail_enc is None:
        return {}
    value = json.loads(keyring.open(detail_enc, aad=aad("audit", "detail", entry_id)))
    return value if isinstance(value, dict) else {"value": value}


def select(
    conn: sqlite3.Connection, keyring: KeyRing, before_id: int | None, limit: int
) -> list[AuditEntry]:
    where = "WHERE id < ?" if before_id is not None else ""
    params: list[Any] = [before_id] if before_id is not None else []
    return [
        AuditEntry(
            id=entry_id,
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            detail=_detail(keyring, entry_id, detail_enc),
            hash=bytes(digest),
        )
        for entry_id, at, actor, action, subject, detail_enc, _prev, digest in conn.execute(
            f"SELECT {_COLUMNS} FROM audit {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            [*params, limit],
        )
    ]


def verify(conn: sqlite3.Connection, keyring: KeyRing) -> int:
    """Check every link from the first entry, then the head record; entries verified."""
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")  # one snapshot: rows and head as of the same commit
    try:
        return _verify(conn, keyring)
    finally:
        if own:
            conn.execute("COMMIT")


def _verify(conn: sqlite3.Connection, keyring: KeyRing) -> int:
    expected_prev = GENESIS
    count = 0
    last_id = 0
    for entry_id, at, actor, action, subject, detail_enc, prev_hash, digest in conn.execute(
        f"SELECT {_COLUMNS} FROM audit ORDER BY id"  # noqa: S608
    ):
        if bytes(prev_hash) != expected_prev:
            raise AuditBroken(
                f"audit entry {entry_id} does not follow the entry before it "
                "(an entry was removed, inserted or altered)"
            )
        try:
            detail = _detail(keyring, entry_id, detail_enc)
        except KeyFileError:
            raise  # a key the ring lacks: not evidence of tampering
        except (StoreError, ValueError):
            raise AuditBroken(f"audit entry {entry_id}: its detail fails to open") from None
        recomputed = entry_hash(
            keyring, expected_prev, entry_id, at, actor, action, subject, detail
        )
        if recomputed != bytes(digest):
            raise AuditBroken(f"audit entry {entry_id} was altered (its hash does not match)")
        expected_prev = recomputed
        last_id = entry_id
        count += 1
    head = _head(conn)
    if head is not None and head != (last_id, expected_prev):
        raise AuditBroken(
            f"the audit trail ends at entry {last_id}, but entry {head[0]} was written "
            "(entries were removed from its end)"
        )
    if head is None and count:
        raise AuditBroken("the audit trail has entries but no head record")
    return count
