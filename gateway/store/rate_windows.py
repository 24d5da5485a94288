"""SQL for the sends a modem's rate windows count (table ``rate_sends``).

One row per counted send, written in the transaction that marks the segment
`sending`, so a crash cannot lose a count (at worst a send counted that never left:
the safe side). Each write drops the modem's rows older than its longest window,
so the table holds at most about one window's worth of sends per modem.
"""

from __future__ import annotations

import sqlite3

from gateway.store.base import RateMark


def count_send(conn: sqlite3.Connection, modem: str, mark: RateMark) -> None:
    conn.execute("DELETE FROM rate_sends WHERE modem = ? AND at < ?", (modem, mark.forget_before))
    conn.execute("INSERT INTO rate_sends (modem, at) VALUES (?, ?)", (modem, mark.at))


def sends_since(conn: sqlite3.Connection, modem: str, since: float) -> list[float]:
    rows = conn.execute(
        "SELECT at FROM rate_sends WHERE modem = ? AND at > ? ORDER BY at", (modem, since)
    ).fetchall()
    return [float(at) for (at,) in rows]
