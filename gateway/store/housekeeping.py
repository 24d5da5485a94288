"""Statistics, retention purge and key rotation."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.crypto import KeyRing
from gateway.store.base import MessageState, Priority
from gateway.store.files import wal_bytes
from gateway.store.reports import count_unmatched
from gateway.store.sealing import aad

# Every sealed column: table → (row id column, logical column names; stored as <name>_enc).
SEALED: dict[str, tuple[str, tuple[str, ...]]] = {
    "messages": ("id", ("recipient", "body", "metadata", "tags")),
    "inbound": ("id", ("sender", "text", "reply_value")),
    "inbound_parts": ("id", ("sender", "text")),
    "events": ("id", ("detail",)),
    "webhook_outbox": ("id", ("payload",)),
    "audit": ("id", ("detail",)),
    "webhook_subscriptions": ("id", ("secret",)),
    "compat_messages": ("ref", ("spec",)),
    "suppressions": ("id", ("number", "reason")),
    "templates": ("name", ("body", "replies")),
    "expected_replies": ("message_id", ("replies", "value")),
    "conversations": ("id", ("number",)),
    "secure_messages": ("id", ("recipient", "text", "tags", "metadata")),
    "secure_attachments": ("id", ("filename", "content")),
    "broadcasts": ("id", ("name", "body", "replies")),
    "broadcast_recipients": ("id", ("recipient", "variables")),
}
CANARY = b"smsgw key canary"
CANARY_AAD = aad("meta", "value", "canary")


def stats(conn: sqlite3.Connection, path: Path) -> dict[str, int]:
    """Keys: ``messages_<state>``, ``queued_<priority>``, ``oldest_queued_created_at``
    (POSIX seconds, 0 when none), ``unmatched_reports``, ``inbound_parts_waiting``,
    ``db_bytes`` (pages plus write-ahead log)."""
    result = {f"messages_{state.value}": 0 for state in MessageState}
    result |= {f"queued_{priority.name.lower()}": 0 for priority in Priority}
    # Kept by triggers as messages change (migration "reads at scale"): no count(*) here.
    for state, priority, count in conn.execute(
        "SELECT state, priority, sum(n) FROM message_counts GROUP BY state, priority"
    ):
        result[f"messages_{state}"] += count
        if state == MessageState.QUEUED.value:
            result[f"queued_{Priority(priority).name.lower()}"] += count
    # Ids sort by creation time: the first queued id is the oldest queued message.
    oldest = conn.execute(
        "SELECT created_at FROM messages WHERE state = 'queued' ORDER BY id LIMIT 1"
    ).fetchone()
    result["oldest_queued_created_at"] = int(oldest[0]) if oldest else 0
    result["unmatched_reports"] = count_unmatched(conn)
    result["inbound_parts_waiting"] = conn.execute("SELECT count(*) FROM inbound_parts").fetchone()[
        0
    ]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    result["db_bytes"] = pages * page_size + wal_bytes(path)
    return result


# Retention covers every state nothing will change any more; `sent` too, as no report
# arrives after the retention period and a message without one would otherwise stay forever.
PURGEABLE_STATES = frozenset(
    {
        MessageState.DELIVERED,
        MessageState.FAILED,
        MessageState.EXPIRED,
        MessageState.CANCELLED,
        MessageState.SUPPRESSED,
        MessageState.SENT,  # no report will come any more after the retention period
        MessageState.UNKNOWN,
    }
)


def purge(conn: sqlite3.Connection, older_than: float) -> int:
    """Delete final messages, inbound, reports and events older than the cutoff; returns
    messages + inbound deleted. ``secure_delete`` is on, so freed pages are zeroed."""
    final = ", ".join(f"'{state.value}'" for state in sorted(PURGEABLE_STATES))
    doomed = f"SELECT id FROM messages WHERE state IN ({final}) AND updated_at < ?"  # noqa: S608
    conn.execute(f"DELETE FROM segments WHERE message_id IN ({doomed})", (older_than,))  # noqa: S608
    conn.execute(f"DELETE FROM expected_replies WHERE message_id IN ({doomed})", (older_than,))  # noqa: S608
    deleted = conn.execute(f"DELETE FROM messages WHERE id IN ({doomed})", (older_than,)).rowcount  # noqa: S608
    deleted += conn.execute("DELETE FROM inbound WHERE received_at < ?", (older_than,)).rowcount
    conn.execute("DELETE FROM inbound_seen WHERE at < ?", (older_than,))
    conn.execute("DELETE FROM inbound_raw WHERE received_at < ?", (older_than,))
    conn.execute("DELETE FROM reports WHERE at < ?", (older_than,))
    conn.execute("DELETE FROM events WHERE at < ?", (older_than,))
    conn.execute("DELETE FROM inbound_parts WHERE received_at < ?", (older_than,))
    conn.execute("DELETE FROM conversations WHERE last_at < ?", (older_than,))
    conn.execute("DELETE FROM auto_replies WHERE at < ?", (older_than,))
    _purge_broadcasts(conn, older_than)
    return deleted


def _purge_broadcasts(conn: sqlite3.Connection, older_than: float) -> None:
    """Broadcasts whose messages are all purged and that will expand no more (their
    recipients' numbers go with them)."""
    doomed = (
        "SELECT id FROM broadcasts b WHERE updated_at < ? AND NOT EXISTS ("
        "SELECT 1 FROM broadcast_recipients r LEFT JOIN messages m ON m.id = r.message_id "
        "WHERE r.broadcast_id = b.id AND (m.id IS NOT NULL OR "
        "(r.state = 'pending' AND b.state != 'cancelled')))"
    )
    conn.execute(
        f"DELETE FROM broadcast_recipients WHERE broadcast_id IN ({doomed})",  # noqa: S608
        (older_than,),
    )
    conn.execute(f"DELETE FROM broadcasts WHERE id IN ({doomed})", (older_than,))  # noqa: S608


def checkpoint(conn: sqlite3.Connection) -> None:
    """Copy the log into the database and truncate it, so purged rows leave the -wal too."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def rotate_batch(
    conn: sqlite3.Connection, keyring: KeyRing, limit: int, after: dict[str, str | int]
) -> int:
    """Re-seal up to ``limit`` rows whose values use an older key; ``after`` carries each
    table's position between batches. Returns rows rewritten (0: this pass is done)."""
    prefix = keyring.current_prefix
    rewritten = 0
    for table, (id_column, names) in SEALED.items():
        if rewritten >= limit:
            break
        if after.get(table) == "":  # finished in this pass
            continue
        columns = [f"{name}_enc" for name in names]
        stale = " OR ".join(
            f"({column} IS NOT NULL AND substr({column}, 1, {len(prefix)}) != ?)"
            for column in columns
        )
        position = after.get(table)
        where = f"({stale})" + (f" AND {id_column} > ?" if position is not None else "")
        params: list[object] = [prefix] * len(columns)
        if position is not None:
            params.append(position)
        want = limit - rewritten
        rows = conn.execute(
            f"SELECT {id_column}, {', '.join(columns)} FROM {table} WHERE {where} "  # noqa: S608
            f"ORDER BY {id_column} LIMIT ?",
            [*params, want],
        ).fetchall()
        for row in rows:
            row_id = row[0]
            values: list[bytes | None] = []
            for name, blob in zip(names, row[1:], strict=True):
                if blob is None:
                    values.append(None)
                    continue
                place = aad(table, name, row_id)
                values.append(keyring.seal(keyring.open(blob, aad=place), aad=place))
            assignments = ", ".join(f"{column} = ?" for column in columns)
            conn.execute(
                f"UPDATE {table} SET {assignments} WHERE {id_column} = ?",  # noqa: S608
                [*values, row_id],
            )
        rewritten += len(rows)
        after[table] = rows[-1][0] if len(rows) == want else ""
    return rewritten


def reseal_canary(conn: sqlite3.Connection, keyring: KeyRing) -> bool:
    """Seal the canary with the current key; True when it was sealed with another.

    The last step of a rotation before the old keys are retired: until then the canary
    opens with either key, so a start in any intermediate state recognises its database,
    and once the old keys are gone it opens with the one that remains."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'canary'").fetchone()
    if row is None or bytes(row[0]).startswith(keyring.current_prefix):
        return False
    value = keyring.seal(keyring.open(row[0], aad=CANARY_AAD), aad=CANARY_AAD)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'canary'", (value,))
    return True


def stale_values(conn: sqlite3.Connection, prefix: bytes) -> dict[str, int]:
    """Values not sealed with the key whose blobs start with ``prefix``, per
    ``table.column``, over every ``*_enc`` column in the database (not only ``SEALED``)
    plus the canary: the last check before old keys are retired for good."""
    found: dict[str, int] = {}
    canary = conn.execute("SELECT value FROM meta WHERE key = 'canary'").fetchone()
    if canary is not None and not bytes(canary[0]).startswith(prefix):
        found["meta.canary"] = 1
    for table in sorted(_tables(conn)):
        for column in _sealed_columns(conn, table):
            (count,) = conn.execute(
                f'SELECT count(*) FROM "{table}" WHERE "{column}" IS NOT NULL '  # noqa: S608
                f'AND substr("{column}", 1, ?) != ?',
                (len(prefix), prefix),
            ).fetchone()
            if count:
                found[f"{table}.{column}"] = count
    return found


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }


def _sealed_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [
        row[1]
        for row in conn.execute(f'PRAGMA table_info("{table}")')
        if str(row[1]).endswith("_enc")
    ]
