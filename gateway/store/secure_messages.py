"""The ``secure_messages`` and ``secure_attachments`` tables.

The link's token is kept only as a keyed hash (it is looked up by it); the date of
birth and the one-time code likewise. Text, attachments, number, tags and metadata
are sealed. Erasing a message deletes its attachments and empties its sealed text;
``secure_delete`` zeroes the freed pages, and the caller checkpoints the log so the
old frames leave the ``-wal`` file too.
"""

from __future__ import annotations

import hmac
import json
import sqlite3
from collections.abc import Sequence
from typing import Any, Final

from gateway.crypto import KeyRing
from gateway.errors import NotFound
from gateway.ids import new_id
from gateway.store.sealing import aad, dump_json
from gateway.store.secure_records import (
    CODE,
    AttachmentInfo,
    NewSecureMessage,
    SecureAttachment,
    SecureContent,
    SecureMessage,
    VerifyOutcome,
)

TABLE: Final = "secure_messages"
ATTACHMENTS: Final = "secure_attachments"
_COLUMNS: Final = (
    "s.id, s.recipient_enc, s.message_id, m.sent_at, s.api_key_id, s.method, s.category, "
    "s.tags_enc, s.metadata_enc, s.created_at, s.expires_at, s.failures, s.opened_at, "
    "s.verified_at, s.read_at, s.answered_at, s.locked_at, s.revoked_at, s.erased_at"
)
_FROM: Final = "FROM secure_messages s LEFT JOIN messages m ON m.id = s.message_id"


def insert(conn: sqlite3.Connection, keyring: KeyRing, new: NewSecureMessage, at: float) -> None:
    sid = new.id
    conn.execute(
        "INSERT INTO secure_messages (id, token_hash, recipient_enc, recipient_hash, "
        "api_key_id, method, dob_hash, text_enc, tags_enc, metadata_enc, category, "
        "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            sid,
            new.token_hash,
            keyring.seal(new.to.encode(), aad=aad(TABLE, "recipient", sid)),
            keyring.lookup_hash(new.to),
            new.api_key_id,
            new.method,
            new.dob_hash,
            keyring.seal(new.text.encode(), aad=aad(TABLE, "text", sid)),
            keyring.seal(dump_json(list(new.tags)), aad=aad(TABLE, "tags", sid)),
            keyring.seal(dump_json(new.metadata), aad=aad(TABLE, "metadata", sid)),
            new.category,
            at,
            new.expires_at,
        ),
    )
    for seq, attachment in enumerate(new.attachments, start=1):
        row_id = new_id("sat")
        conn.execute(
            "INSERT INTO secure_attachments (id, secure_id, seq, filename_enc, content_type, "
            "size, content_enc) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                row_id,
                sid,
                seq,
                keyring.seal(
                    attachment.filename.encode(), aad=aad(ATTACHMENTS, "filename", row_id)
                ),
                attachment.content_type,
                len(attachment.content),
                keyring.seal(attachment.content, aad=aad(ATTACHMENTS, "content", row_id)),
            ),
        )


def link(conn: sqlite3.Connection, secure_id: str, message_id: str) -> None:
    conn.execute("UPDATE secure_messages SET message_id = ? WHERE id = ?", (message_id, secure_id))


def drop(conn: sqlite3.Connection, secure_id: str) -> None:
    """A secure message whose SMS was never accepted: nothing of it is kept."""
    conn.execute("DELETE FROM secure_attachments WHERE secure_id = ?", (secure_id,))
    conn.execute("DELETE FROM secure_messages WHERE id = ?", (secure_id,))


def _decode(keyring: KeyRing, row: Sequence[Any]) -> SecureMessage:
    sid = row[0]
    return SecureMessage(
        id=sid,
        to=keyring.open(row[1], aad=aad(TABLE, "recipient", sid)).decode(),
        message_id=row[2],
        sms_sent_at=row[3],
        api_key_id=row[4],
        method=row[5],
        category=row[6],
        tags=tuple(json.loads(keyring.open(row[7], aad=aad(TABLE, "tags", sid)))),
        metadata=json.loads(keyring.open(row[8], aad=aad(TABLE, "metadata", sid))),
        created_at=row[9],
        expires_at=row[10],
        failures=row[11],
        opened_at=row[12],
        verified_at=row[13],
        read_at=row[14],
        answered_at=row[15],
        locked_at=row[16],
        revoked_at=row[17],
        erased_at=row[18],
    )


def select(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    *,
    secure_id: str | None = None,
    token_hash: bytes | None = None,
    owner: str | None = None,
) -> SecureMessage | None:
    where = "s.id = ?" if secure_id is not None else "s.token_hash = ?"
    params: list[object] = [secure_id if secure_id is not None else token_hash]
    if owner is not None:
        where += " AND s.api_key_id = ?"
        params.append(owner)
    row = conn.execute(f"SELECT {_COLUMNS} {_FROM} WHERE {where}", params).fetchone()
    return None if row is None else _decode(keyring, row)


def load(conn: sqlite3.Connection, keyring: KeyRing, secure_id: str) -> SecureMessage:
    found = select(conn, keyring, secure_id=secure_id)
    if found is None:
        raise NotFound("no such secure message")
    return found


def mark(conn: sqlite3.Connection, secure_id: str, column: str, at: float) -> bool:
    """Set a first-time column (opened_at, read_at, …) once; True when this set it."""
    assert column in {"opened_at", "verified_at", "read_at", "answered_at"}
    return bool(
        conn.execute(
            f"UPDATE secure_messages SET {column} = ? WHERE id = ? AND {column} IS NULL",  # noqa: S608
            (at, secure_id),
        ).rowcount
    )


def set_code(conn: sqlite3.Connection, secure_id: str, code_hash: bytes, expires_at: float) -> None:
    conn.execute(
        "UPDATE secure_messages SET code_hash = ?, code_expires_at = ? WHERE id = ?",
        (code_hash, expires_at, secure_id),
    )


def verify(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    secure_id: str,
    answer_hash: bytes,
    at: float,
    max_failures: int,
) -> tuple[VerifyOutcome, bool]:
    """Compare the answer with the stored hash (a code only once, and only in its time);
    a failure is counted and the one that reaches ``max_failures`` locks the message.
    Returns the outcome and whether this attempt locked it."""
    row = conn.execute(
        "SELECT method, dob_hash, code_hash, code_expires_at, failures, locked_at "
        "FROM secure_messages WHERE id = ?",
        (secure_id,),
    ).fetchone()
    if row is None:
        raise NotFound("no such secure message")
    method, dob_hash, code_hash, code_expires_at, failures, locked_at = row
    if method == CODE:
        expected = code_hash if code_expires_at is not None and code_expires_at > at else None
    else:
        expected = dob_hash
    ok = locked_at is None and expected is not None and hmac.compare_digest(expected, answer_hash)
    locked = False
    if ok:
        conn.execute(
            "UPDATE secure_messages SET verified_at = coalesce(verified_at, ?), "
            "code_hash = NULL, code_expires_at = NULL WHERE id = ?",
            (at, secure_id),
        )
    elif locked_at is None:
        failures += 1
        locked = failures >= max_failures
        conn.execute(
            "UPDATE secure_messages SET failures = ?, locked_at = ? WHERE id = ?",
            (failures, at if locked else None, secure_id),
        )
    return VerifyOutcome(ok=ok, record=load(conn, keyring, secure_id)), locked


def attachments(
    conn: sqlite3.Connection, keyring: KeyRing, secure_id: str
) -> tuple[AttachmentInfo, ...]:
    rows = conn.execute(
        "SELECT id, seq, filename_enc, content_type, size FROM secure_attachments "
        "WHERE secure_id = ? ORDER BY seq",
        (secure_id,),
    ).fetchall()
    return tuple(
        AttachmentInfo(
            seq=seq,
            filename=keyring.open(name, aad=aad(ATTACHMENTS, "filename", row_id)).decode(),
            content_type=content_type,
            size=size,
        )
        for row_id, seq, name, content_type, size in rows
    )


def content(conn: sqlite3.Connection, keyring: KeyRing, secure_id: str) -> SecureContent | None:
    row = conn.execute("SELECT text_enc FROM secure_messages WHERE id = ?", (secure_id,)).fetchone()
    if row is None or row[0] is None:
        return None
    text = keyring.open(row[0], aad=aad(TABLE, "text", secure_id)).decode()
    return SecureContent(text=text, attachments=attachments(conn, keyring, secure_id))


def attachment(
    conn: sqlite3.Connection, keyring: KeyRing, secure_id: str, seq: int
) -> SecureAttachment | None:
    row = conn.execute(
        "SELECT id, filename_enc, content_type, content_enc FROM secure_attachments "
        "WHERE secure_id = ? AND seq = ?",
        (secure_id, seq),
    ).fetchone()
    if row is None:
        return None
    row_id, name, content_type, blob = row
    return SecureAttachment(
        filename=keyring.open(name, aad=aad(ATTACHMENTS, "filename", row_id)).decode(),
        content_type=content_type,
        content=keyring.open(blob, aad=aad(ATTACHMENTS, "content", row_id)),
    )


def erase(conn: sqlite3.Connection, ids: Sequence[str], at: float) -> int:
    """The content of these messages gone (text, attachments, code); the records stay."""
    for sid in ids:
        conn.execute("DELETE FROM secure_attachments WHERE secure_id = ?", (sid,))
        conn.execute(
            "UPDATE secure_messages SET text_enc = NULL, dob_hash = NULL, code_hash = NULL, "
            "code_expires_at = NULL, erased_at = coalesce(erased_at, ?) WHERE id = ?",
            (at, sid),
        )
    return len(ids)


def revoke(conn: sqlite3.Connection, secure_id: str, at: float) -> None:
    conn.execute(
        "UPDATE secure_messages SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
        (at, secure_id),
    )
    erase(conn, [secure_id], at)


def due_for_erasure(
    conn: sqlite3.Connection, now: float, created_before: float | None
) -> list[str]:
    """Messages still holding content that expired by ``now`` (or, with
    ``created_before``, were made before it: the retention policy)."""
    clause, params = "expires_at <= ?", [now]
    if created_before is not None:
        clause += " OR created_at < ?"
        params.append(created_before)
    rows = conn.execute(
        f"SELECT id FROM secure_messages WHERE erased_at IS NULL AND ({clause})",  # noqa: S608
        params,
    ).fetchall()
    return [row[0] for row in rows]
