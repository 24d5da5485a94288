"""SQL for a key's daily message quota, checked in the transaction that adds messages.

Checking where the messages are written makes the count exact under concurrent
requests and across restarts and processes: there is no counter to drift or lose.
The window is the last 24 hours, so a client that spends its quota at once gets it
back message by message, a day after each, rather than all at midnight.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable

from gateway.errors import QuotaExceeded

DAY_SECONDS = 86_400.0


def check_daily(conn: sqlite3.Connection, new_by_key: Iterable[str | None], now: float) -> None:
    """Raise QuotaExceeded when adding one message per entry of ``new_by_key`` (their keys'
    ids) would take a key past its ``messages_per_day``."""
    wanted = Counter(key_id for key_id in new_by_key if key_id is not None)
    for key_id, count in wanted.items():
        row = conn.execute(
            "SELECT messages_per_day FROM api_keys WHERE id = ?", (key_id,)
        ).fetchone()
        if row is None or row[0] is None:
            continue
        limit = int(row[0])
        since = now - DAY_SECONDS
        (used,) = conn.execute(
            "SELECT count(*) FROM messages WHERE api_key_id = ? AND created_at > ?",
            (key_id, since),
        ).fetchone()
        if used + count <= limit:
            continue
        raise QuotaExceeded(
            f"this API key may send {limit} messages in any 24 hours; {used} were accepted "
            f"in the last 24 hours and this request has {count}",
            retry_after=_free_at(conn, key_id, since, used + count - limit, limit, count) - now,
        )


def _free_at(
    conn: sqlite3.Connection, key_id: str, since: float, excess: int, limit: int, count: int
) -> float:
    """When enough of the window's messages have aged out for this request to fit (a
    request larger than the whole quota never fits: a day from now, as a bound)."""
    if count > limit:
        return since + 2 * DAY_SECONDS
    row = conn.execute(
        "SELECT created_at FROM messages WHERE api_key_id = ? AND created_at > ? "
        "ORDER BY created_at LIMIT 1 OFFSET ?",
        (key_id, since, excess - 1),
    ).fetchone()
    return (float(row[0]) if row is not None else since) + DAY_SECONDS
