"""The opt-out list: numbers by keyed hash, each entry for one category or all of them.

The number is kept sealed only so an admin can see (masked) whom an entry is for;
every lookup goes by ``number_hash``. A category of ``*`` covers every category,
so (hash, category) stays one unique key without NULLs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from gateway.crypto import KeyRing
from gateway.errors import NotFound
from gateway.ids import new_id
from gateway.store.base import (
    ALL_CATEGORIES,
    CONSENT_OPTED_IN,
    CONSENT_OPTED_OUT,
    ConsentChange,
    ConsentResult,
    Suppression,
)
from gateway.store.sealing import aad

_COLUMNS = "id, number_enc, category, source, reason_enc, created_at, modem"


def _decode(keyring: KeyRing, row: Sequence[Any]) -> Suppression:
    sid, number_enc, category, source, reason_enc, created_at, modem = row
    reason = (
        keyring.open(reason_enc, aad=aad("suppressions", "reason", sid)).decode()
        if reason_enc is not None
        else None
    )
    return Suppression(
        id=sid,
        number=keyring.open(number_enc, aad=aad("suppressions", "number", sid)).decode(),
        category=None if category == ALL_CATEGORIES else category,
        source=source,
        reason=reason,
        created_at=created_at,
        modem=modem,
    )


def _stored_category(category: str | None) -> str:
    return ALL_CATEGORIES if category is None else category


def insert(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    number: str,
    category: str | None,
    *,
    source: str,
    reason: str | None,
    modem: str | None,
    at: float,
) -> tuple[Suppression, bool]:
    number_hash = keyring.lookup_hash(number)
    stored = _stored_category(category)
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM suppressions WHERE number_hash = ? AND category = ?",  # noqa: S608
        (number_hash, stored),
    ).fetchone()
    if row is not None:
        return _decode(keyring, row), False
    sid = new_id("sup")
    conn.execute(
        "INSERT INTO suppressions (id, number_hash, number_enc, category, source, reason_enc, "
        "created_at, modem) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            sid,
            number_hash,
            keyring.seal(number.encode(), aad=aad("suppressions", "number", sid)),
            stored,
            source,
            None
            if reason is None
            else keyring.seal(reason.encode(), aad=aad("suppressions", "reason", sid)),
            at,
            modem,
        ),
    )
    made = Suppression(sid, number, category, source, reason, at, modem)
    return made, True


def delete(conn: sqlite3.Connection, keyring: KeyRing, suppression_id: str) -> Suppression:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM suppressions WHERE id = ?",  # noqa: S608
        (suppression_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no suppression {suppression_id}")
    conn.execute("DELETE FROM suppressions WHERE id = ?", (suppression_id,))
    return _decode(keyring, row)


def select_for(conn: sqlite3.Connection, keyring: KeyRing, number_hash: bytes) -> list[Suppression]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM suppressions WHERE number_hash = ? ORDER BY id",  # noqa: S608
        (number_hash,),
    ).fetchall()
    return [_decode(keyring, row) for row in rows]


class SuppressionMap:
    """Number hash → categories suppressed (None: all), mirrored in memory.

    The gate asks about every message at intake and again before its first segment;
    a dict lookup spares each a round trip to the database. The daemon's store is the
    only writer of ``suppressions``, and it updates this map after each commit."""

    def __init__(self) -> None:
        self._by_hash: dict[bytes, frozenset[str | None]] = {}

    def load(self, conn: sqlite3.Connection) -> None:
        found: dict[bytes, set[str | None]] = {}
        for number_hash, category in conn.execute("SELECT number_hash, category FROM suppressions"):
            found.setdefault(bytes(number_hash), set()).add(
                None if category == ALL_CATEGORIES else category
            )
        self._by_hash = {key: frozenset(value) for key, value in found.items()}

    def categories(self, number_hashes: Sequence[bytes]) -> dict[bytes, frozenset[str | None]]:
        by_hash = self._by_hash
        return {h: by_hash[h] for h in number_hashes if h in by_hash}

    def added(self, number_hash: bytes, category: str | None) -> None:
        self._by_hash[number_hash] = self._by_hash.get(number_hash, frozenset()) | {category}

    def removed(self, number_hash: bytes, category: str | None) -> None:
        left = self._by_hash.get(number_hash, frozenset()) - {category}
        if left:
            self._by_hash[number_hash] = left
        else:
            self._by_hash.pop(number_hash, None)


def select_page(
    conn: sqlite3.Connection, keyring: KeyRing, before_id: str | None, limit: int
) -> list[Suppression]:
    where, params = ("WHERE id < ?", [before_id]) if before_id is not None else ("", [])
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM suppressions {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
        [*params, limit],
    ).fetchall()
    return [_decode(keyring, row) for row in rows]


def apply_change(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    number: str,
    change: ConsentChange,
    *,
    modem: str,
    at: float,
    notify: Callable[[str, Suppression], None],
) -> ConsentResult:
    """A patient's keyword: STOP adds one entry; START takes off every entry of the number
    (the patient asked to hear from the clinic again, whatever they stopped before)."""
    if change.opt_out:
        made, created = insert(
            conn,
            keyring,
            number,
            change.category,
            source="keyword",
            reason=None,
            modem=modem,
            at=at,
        )
        if created:
            notify(CONSENT_OPTED_OUT, made)
        return ConsentResult(change, (made,) if created else ())
    removed = tuple(
        delete(conn, keyring, entry.id)
        for entry in select_for(conn, keyring, keyring.lookup_hash(number))
        if change.category is None or entry.category == change.category
    )
    for entry in removed:
        notify(CONSENT_OPTED_IN, entry)
    return ConsentResult(change, removed)
