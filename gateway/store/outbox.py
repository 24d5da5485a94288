"""The webhook outbox: rows in ``webhook_outbox``, and their attempts in ``webhook_attempts``.

A row is one event for one receiver (a subscription, or a per-message callback of
the Twilio or Kannel shapes). Its payload is sealed with the store's key ring,
bound to ``webhook_outbox.payload.<row id>`` like every other sealed value, so
key rotation covers it. A row is ``pending`` until a 2xx answer makes it
``delivered`` or the last allowed attempt makes it ``dead``.

Ordering: among a receiver's pending rows with one ``order_key``, only the oldest
(ids sort by creation) is ever due, so event N+1 of a conversation never leaves
before event N was delivered or dead-lettered.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from gateway.crypto import KeyRing
from gateway.store.base import (
    DEAD,
    DELIVERED,
    DELIVERY_STATES,
    PENDING,
    Attempt,
    Delivery,
    DueDelivery,
)
from gateway.store.sealing import aad

TABLE: Final = "webhook_outbox"


@dataclass(frozen=True, slots=True)
class NewRow:
    id: str
    created_at: float
    subscriber: str
    kind: str
    payload_enc: bytes
    order_key: str
    source: str | None


def payload_aad(row_id: str) -> bytes:
    return aad(TABLE, "payload", row_id)


def insert(conn: sqlite3.Connection, rows: Sequence[NewRow]) -> int:
    """Rows whose (receiver, kind, source) exists already are skipped: a report
    applied twice does not notify twice. Returns rows inserted."""
    inserted = 0
    for r in rows:
        inserted += conn.execute(
            f"INSERT OR IGNORE INTO {TABLE} (id, created_at, subscriber, kind, payload_enc, "  # noqa: S608
            "attempts, next_at, order_key, state, source) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
            (
                r.id,
                r.created_at,
                r.subscriber,
                r.kind,
                r.payload_enc,
                r.created_at,
                r.order_key,
                PENDING,
                r.source,
            ),
        ).rowcount
    return inserted


def select_due(
    conn: sqlite3.Connection, keyring: KeyRing, now: float, limit: int
) -> list[DueDelivery]:
    """Pending rows whose time has come and that head their (receiver, order key) line."""
    rows = conn.execute(
        f"""SELECT o.id, o.subscriber, o.kind, o.attempts, o.payload_enc FROM {TABLE} o
        WHERE o.state = 'pending' AND o.next_at <= ?
          AND NOT EXISTS (
            SELECT 1 FROM {TABLE} p WHERE p.state = 'pending' AND p.subscriber = o.subscriber
              AND p.order_key = o.order_key AND p.id < o.id)
        ORDER BY o.next_at, o.id LIMIT ?""",  # noqa: S608
        (now, limit),
    ).fetchall()
    return [
        DueDelivery(
            row_id, subscriber, kind, attempts, keyring.open(sealed, aad=payload_aad(row_id))
        )
        for row_id, subscriber, kind, attempts, sealed in rows
    ]


def next_due_at(conn: sqlite3.Connection) -> float | None:
    row = conn.execute(f"SELECT min(next_at) FROM {TABLE} WHERE state = 'pending'").fetchone()  # noqa: S608
    return None if row is None or row[0] is None else float(row[0])


def record_attempt(
    conn: sqlite3.Connection,
    row_id: str,
    attempt: Attempt,
    *,
    state: str,
    next_at: float | None,
) -> None:
    """Store one attempt's outcome: delivered, dead, or pending again at ``next_at``."""
    conn.execute(
        "INSERT INTO webhook_attempts (delivery_id, at, attempt, status, error, duration) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (row_id, attempt.at, attempt.attempt, attempt.status, attempt.error, attempt.duration),
    )
    conn.execute(
        f"UPDATE {TABLE} SET state = ?, attempts = ?, next_at = coalesce(?, next_at), "  # noqa: S608
        "delivered_at = ?, last_error = ? WHERE id = ?",
        (
            state,
            attempt.attempt,
            next_at,
            attempt.at if state == DELIVERED else None,
            attempt.error,
            row_id,
        ),
    )


def drop_receiver(conn: sqlite3.Connection, subscriber: str, at: float) -> int:
    """A removed subscription's pending rows become dead (kept for the record)."""
    return conn.execute(
        f"UPDATE {TABLE} SET state = '{DEAD}', last_error = 'subscription removed', "  # noqa: S608
        "next_at = ? WHERE subscriber = ? AND state = 'pending'",
        (at, subscriber),
    ).rowcount


def redeliver(
    conn: sqlite3.Connection,
    subscriber: str,
    at: float,
    *,
    delivery_id: str | None,
    since: float | None,
) -> int:
    """A receiver's dead rows (one, those created since ``since``, or all) pending again
    at ``at`` with a fresh count of attempts; their past attempts stay listed."""
    where = ["subscriber = ?", f"state = '{DEAD}'"]
    params: list[Any] = [PENDING, at, subscriber]
    if delivery_id is not None:
        where.append("id = ?")
        params.append(delivery_id)
    if since is not None:
        where.append("created_at >= ?")
        params.append(since)
    return conn.execute(
        f"UPDATE {TABLE} SET state = ?, attempts = 0, next_at = ?, last_error = NULL "  # noqa: S608
        f"WHERE {' AND '.join(where)}",
        params,
    ).rowcount


def select_deliveries(
    conn: sqlite3.Connection,
    subscriber: str,
    *,
    state: str | None,
    before_id: str | None,
    limit: int,
) -> list[Delivery]:
    """Newest first, each with its attempts (no payload: it holds PHI)."""
    where = ["subscriber = ?"]
    params: list[Any] = [subscriber]
    if state is not None:
        where.append("state = ?")
        params.append(state)
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    rows = conn.execute(
        "SELECT id, subscriber, kind, state, created_at, attempts, next_at, delivered_at, "  # noqa: S608
        f"last_error FROM {TABLE} WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    deliveries = []
    for row in rows:
        history = tuple(
            Attempt(*a)
            for a in conn.execute(
                "SELECT at, attempt, status, error, duration FROM webhook_attempts "
                "WHERE delivery_id = ? ORDER BY id",
                (row[0],),
            )
        )
        deliveries.append(
            Delivery(
                id=row[0],
                subscriber=row[1],
                kind=row[2],
                state=row[3],
                created_at=row[4],
                attempts=row[5],
                next_at=row[6] if row[3] == PENDING else None,
                delivered_at=row[7],
                last_error=row[8],
                history=history,
            )
        )
    return deliveries


def purge(conn: sqlite3.Connection, older_than: float) -> int:
    """Delivered and dead rows older than the cutoff, with their attempts, and the
    callback details of messages created before it (no callback is made for them
    any more)."""
    conn.execute("DELETE FROM compat_messages WHERE created_at < ?", (older_than,))
    doomed = f"SELECT id FROM {TABLE} WHERE state != 'pending' AND created_at < ?"  # noqa: S608
    conn.execute(f"DELETE FROM webhook_attempts WHERE delivery_id IN ({doomed})", (older_than,))  # noqa: S608
    return conn.execute(
        f"DELETE FROM {TABLE} WHERE state != 'pending' AND created_at < ?",  # noqa: S608
        (older_than,),
    ).rowcount


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    found = dict.fromkeys(DELIVERY_STATES, 0)
    for state, count in conn.execute(f"SELECT state, count(*) FROM {TABLE} GROUP BY state"):  # noqa: S608
        found[state] = count
    return found
