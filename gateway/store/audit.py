"""The audit trail: who did what to the gateway, each entry chained to the one before.

Each row stores ``hash = SHA-256(prev_hash || canonical JSON of [id, at, actor,
action, subject, seal])`` where ``seal`` is an HMAC, under the key ring's lookup
key, of the same fields plus the plaintext detail. The detail itself is sealed
(it may quote an AT command, which may carry a number) and bound to its row.

Why a keyed digest inside a plain chain: re-encrypting the detail under a new
key (rotation) changes the ciphertext but not the plaintext, so the chain still
verifies afterwards; and someone who can write the database but lacks the key
file cannot rewrite an entry and recompute the chain after it.

The head record in ``meta`` (entries, newest id, newest hash) is sealed too, with an
HMAC under the same lookup key (which rotation keeps), and a new database gets one
for its empty trail. So cutting entries off the end, or emptying the trail, is
noticed even when the head is rewritten to match: that takes the key file. What a
record inside the database cannot notice is the whole file, or the trail with its
head, put back from an older copy; that needs an anchor kept elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Final

from gateway.crypto import KeyRing
from gateway.errors import AuditBroken, KeyFileError, StoreError
from gateway.store.base import AuditEntry
from gateway.store.sealing import aad, dump_json

GENESIS: Final = bytes(32)  # prev_hash of the first entry
HEAD_KEY: Final = "audit_head"  # meta row: "<entries>:<id>:<hash hex>:<seal hex>"
_SEAL_DOMAIN: Final = "smsgw.audit.v1\x00"
_HEAD_DOMAIN: Final = "smsgw.audit.head.v1\x00"
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


@dataclass(frozen=True, slots=True)
class Head:
    """The trail's end as last written: how many entries, the newest one's id and hash."""

    entries: int
    last_id: int
    last_hash: bytes

    def text(self) -> str:
        return f"{self.entries}:{self.last_id}:{self.last_hash.hex()}"


EMPTY: Final = Head(0, 0, GENESIS)


def _head_seal(keyring: KeyRing, head: Head) -> str:
    return keyring.lookup_hash(_HEAD_DOMAIN + head.text()).hex()


def write_head(conn: sqlite3.Connection, keyring: KeyRing, head: Head) -> None:
    value = f"{head.text()}:{_head_seal(keyring, head)}"
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (HEAD_KEY, value.encode())
    )


def _head(conn: sqlite3.Connection, keyring: KeyRing) -> Head | None:
    """The sealed head; None when there is none. AuditBroken when it is damaged or its
    seal does not match (written without the key file)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (HEAD_KEY,)).fetchone()
    if row is None:
        return None
    try:
        raw = row[0].decode("ascii") if isinstance(row[0], bytes) else str(row[0])
        entries, last_id, digest, seal = raw.split(":")
        head = Head(int(entries), int(last_id), bytes.fromhex(digest))
    except (UnicodeDecodeError, ValueError):
        raise AuditBroken("the audit trail's head record is damaged") from None
    if not hmac.compare_digest(seal, _head_seal(keyring, head)):
        raise AuditBroken("the audit trail's head record was not written by this gateway")
    return head


def _legacy_head(conn: sqlite3.Connection) -> Head | None:
    """An unsealed ``<id>:<hash hex>`` head from before heads were sealed, if that is
    what the database holds and it names its newest entry."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (HEAD_KEY,)).fetchone()
    if row is None or not isinstance(row[0], bytes) or row[0].count(b":") != 1:
        return None
    last = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    if last is None or row[0] != f"{last[0]}:{bytes(last[1]).hex()}".encode():
        return None
    (entries,) = conn.execute("SELECT count(*) FROM audit").fetchone()
    return Head(entries, last[0], bytes(last[1]))


def start_head(conn: sqlite3.Connection, keyring: KeyRing, *, new_database: bool) -> None:
    """At open: a new database's empty trail gets its sealed head; an unsealed head from
    an older version is sealed as it stands (once, trusting the state it is found in)."""
    if new_database:
        write_head(conn, keyring, EMPTY)
        return
    legacy = _legacy_head(conn)
    if legacy is not None:
        write_head(conn, keyring, legacy)


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
    try:
        head = _head(conn, keyring)
    except AuditBroken:
        head = None
    entries = head.entries + 1 if head is not None else _count(conn)
    write_head(conn, keyring, Head(entries, entry_id, digest))
    return entry_id


def _count(conn: sqlite3.Connection) -> int:
    # Only without a good head (a damaged trail keeps being written; verify reports it).
    return int(conn.execute("SELECT count(*) FROM audit").fetchone()[0])


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
    """Check every link from the first entry, then the sealed head; entries verified.

    Whatever the damage, the answer is AuditBroken (or KeyFileError for a key the ring
    lacks), never another exception."""
    own = not conn.in_transaction
    try:
        if own:
            conn.execute("BEGIN")  # one snapshot: rows and head as of the same commit
        try:
            return _verify(conn, keyring)
        finally:
            if own:
                conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise AuditBroken(f"the audit trail cannot be read ({exc})") from None


def _verify(conn: sqlite3.Connection, keyring: KeyRing) -> int:
    expected_prev = GENESIS
    count = 0
    last_id = 0
    for entry_id, at, actor, action, subject, detail_enc, prev_hash, digest in conn.execute(
        f"SELECT {_COLUMNS} FROM audit ORDER BY id"  # noqa: S608
    ):
        if not isinstance(prev_hash, bytes) or prev_hash != expected_prev:
            raise AuditBroken(
                f"audit entry {entry_id} does not follow the entry before it "
                "(an entry was removed, inserted or altered)"
            )
        try:
            detail = _detail(keyring, entry_id, detail_enc)
            recomputed = entry_hash(
                keyring, expected_prev, entry_id, at, actor, action, subject, detail
            )
        except KeyFileError:
            raise  # a key the ring lacks: not evidence of tampering
        except (StoreError, ValueError, TypeError, AttributeError):
            raise AuditBroken(f"audit entry {entry_id}: its detail fails to open") from None
        if not isinstance(digest, bytes) or recomputed != digest:
            raise AuditBroken(f"audit entry {entry_id} was altered (its hash does not match)")
        expected_prev = recomputed
        last_id = entry_id
        count += 1
    head = _head(conn, keyring)
    if head is None:
        raise AuditBroken("the audit trail has no sealed head record (it was removed)")
    if head != Head(count, last_id, expected_prev):
        raise AuditBroken(
            f"the audit trail ends at entry {last_id} after {count} entries, but its head "
            f"records {head.entries} entries ending at entry {head.last_id} "
            "(entries were removed from its end)"
        )
    return count
