"""API keys: ``sgw_<key id>_<secret>`` tokens of which only a hash is stored.

The secret is 32 random bytes, so a plain SHA-256 is enough (no slow password
hash: there is nothing to guess). Verification runs on every request, so
verified keys are cached in memory. A revocation made through this store drops
the entry at once; one made by another process (``smsgw keys revoke`` writes the
same file) is noticed through a fingerprint of the table (:func:`fingerprint`),
read at most once per :data:`CHECK_SECONDS` whatever the request rate: any
change empties the cache. A key id the cache lacks is always looked up, so a
key just created works at once. A change of limits moves ``changed_at``, which
the fingerprint covers, so it is honoured as quickly.

The last time each key was used is kept in memory (:class:`UsageLog`) and written
for all keys in one statement at most once per :data:`USAGE_WRITE_SECONDS`, and at
close: authentication stays free of writes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from gateway.errors import NotFound
from gateway.ids import new_id
from gateway.store.base import ApiKey, KeyLimits, Scope

TOKEN_PREFIX = "sgw"  # noqa: S105 (a fixed prefix, not a secret)
SECRET_BYTES = 32
CHECK_SECONDS = 0.25  # a change made elsewhere is honoured within this (plus one read)
USAGE_WRITE_SECONDS = 60.0  # last-used times reach the database at most this often

_COLUMNS = (
    "id, name, scopes, secret_hash, created_at, revoked_at, requests_per_minute, "
    "messages_per_day, expires_at, networks, last_used_at, default_category"
)


def new_token() -> tuple[str, str, bytes]:
    """(key id, token, stored hash)."""
    key_id = new_id("key")
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return key_id, f"{TOKEN_PREFIX}_{key_id}_{secret}", hash_secret(secret)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_token(token: str) -> tuple[str, str] | None:
    """(key id, secret), or None when the token is not ours. Key ids are ``key_<base32>``."""
    parts = token.split("_", 3)
    if len(parts) != 4 or parts[0] != TOKEN_PREFIX or parts[1] != "key" or not parts[3]:
        return None
    return f"{parts[1]}_{parts[2]}", parts[3]


def encode_scopes(scopes: frozenset[Scope]) -> str:
    return ",".join(sorted(scope.value for scope in scopes))


def decode_key(row: Sequence[Any]) -> ApiKey:
    scopes = frozenset(Scope(value) for value in row[2].split(",") if value)
    limits = KeyLimits(
        requests_per_minute=row[6],
        messages_per_day=row[7],
        expires_at=row[8],
        networks=tuple(n for n in (row[9] or "").split(",") if n),
    )
    return ApiKey(
        id=row[0],
        name=row[1],
        scopes=scopes,
        created_at=row[4],
        revoked_at=row[5],
        limits=limits,
        last_used_at=row[10],
        default_category=row[11] or "care",
    )


def _limit_values(limits: KeyLimits) -> tuple[int | None, int | None, float | None, str | None]:
    networks = ",".join(limits.networks) or None
    return limits.requests_per_minute, limits.messages_per_day, limits.expires_at, networks


def insert_key(conn: sqlite3.Connection, key: ApiKey, secret_hash: bytes) -> None:
    conn.execute(
        f"INSERT INTO api_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, NULL, ?)",  # noqa: S608
        (
            key.id,
            key.name,
            encode_scopes(key.scopes),
            secret_hash,
            key.created_at,
            *_limit_values(key.limits),
            key.default_category,
        ),
    )


def set_limits(conn: sqlite3.Connection, key_id: str, limits: KeyLimits) -> ApiKey:
    conn.execute(
        "UPDATE api_keys SET requests_per_minute = ?, messages_per_day = ?, expires_at = ?, "
        "networks = ?, changed_at = ? WHERE id = ?",
        (*_limit_values(limits), time.time(), key_id),
    )
    found = select_key(conn, key_id)
    if found is None:
        raise NotFound(f"no API key {key_id}")
    return found[0]


def write_usage(conn: sqlite3.Connection, used: dict[str, float]) -> None:
    """Later times only: another process may have written a newer one."""
    conn.executemany(
        "UPDATE api_keys SET last_used_at = ? WHERE id = ? AND coalesce(last_used_at, 0) < ?",
        [(at, key_id, at) for key_id, at in used.items()],
    )


def select_key(conn: sqlite3.Connection, key_id: str) -> tuple[ApiKey, bytes] | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)).fetchone()  # noqa: S608
    return None if row is None else (decode_key(row), row[3])


def select_keys(conn: sqlite3.Connection) -> list[ApiKey]:
    return [decode_key(row) for row in conn.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY id")]  # noqa: S608


def revoke(conn: sqlite3.Connection, key_id: str) -> ApiKey:
    conn.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        (time.time(), key_id),
    )
    found = select_key(conn, key_id)
    if found is None:
        raise NotFound(f"no API key {key_id}")
    return found[0]


Fingerprint = tuple[int, int, float, float]


def fingerprint(conn: sqlite3.Connection) -> Fingerprint:
    """(keys, revoked keys, latest revocation, latest change of limits): changes with
    every create, revoke and change of limits.

    One aggregate over a table of a handful of rows; keys are never deleted, a
    revocation is set once and a change of limits moves ``changed_at`` forward, so no
    change leaves it the same."""
    count, revoked, latest, changed = conn.execute(
        "SELECT count(*), count(revoked_at), coalesce(max(revoked_at), 0), "
        "coalesce(max(changed_at), 0) FROM api_keys"
    ).fetchone()
    return int(count), int(revoked), float(latest), float(changed)


class UsageLog:
    """Last-used times not yet written, and when they last were."""

    def __init__(self, every: float = USAGE_WRITE_SECONDS) -> None:
        self._pending: dict[str, float] = {}
        self._every = every
        self._written_at = time.monotonic()

    def note(self, key_id: str, at: float) -> bool:
        """Record a use; True when the pending times are due to be written."""
        self._pending[key_id] = at
        return time.monotonic() - self._written_at >= self._every

    def take(self) -> dict[str, float]:
        """The pending times, handed over for writing (the log starts a new period)."""
        pending, self._pending = self._pending, {}
        self._written_at = time.monotonic()
        return pending


class KeyCache:
    """Verified keys by id, each with its stored hash, valid while the table's
    fingerprint stays the one they were read under."""

    def __init__(self, check_seconds: float = CHECK_SECONDS) -> None:
        self._entries: dict[str, tuple[ApiKey, bytes]] = {}
        self._check_seconds = check_seconds
        self._checked_at = float("-inf")
        self._fingerprint: Fingerprint | None = None

    def due(self) -> bool:
        """True when the fingerprint should be read again before trusting an entry."""
        return time.monotonic() - self._checked_at >= self._check_seconds

    def checked(self, current: Fingerprint) -> None:
        """The fingerprint just read: a different one empties the cache."""
        self._checked_at = time.monotonic()
        if current != self._fingerprint:
            self._entries.clear()
            self._fingerprint = current

    def get(self, key_id: str) -> tuple[ApiKey, bytes] | None:
        return self._entries.get(key_id)

    def put(self, key: ApiKey, secret_hash: bytes) -> None:
        self._entries[key.id] = (key, secret_hash)

    def drop(self, key_id: str) -> None:
        self._entries.pop(key_id, None)


def check(found: tuple[ApiKey, bytes] | None, secret: str) -> ApiKey | None:
    """The key when the secret is its own, revoked or not: the caller refuses a revoked
    key, and tells a client on an old key apart from a guess."""
    if found is None:
        return None
    key, stored = found
    if not hmac.compare_digest(stored, hash_secret(secret)):
        return None
    return key
