"""After-hours auto-replies already sent: one row per conversation and closed period.

The row is claimed before the reply is queued, so a crash in between loses that one
reply rather than sending it twice: the patient is told at most once a night.
"""

from __future__ import annotations

import sqlite3


def claim(conn: sqlite3.Connection, conversation_id: str, period_start: float, at: float) -> bool:
    """True when no reply of this period was claimed for the conversation before."""
    cursor = conn.execute(
        "INSERT INTO auto_replies (conversation_id, period_start, at) VALUES (?, ?, ?) "
        "ON CONFLICT (conversation_id, period_start) DO NOTHING",
        (conversation_id, period_start, at),
    )
    return cursor.rowcount == 1
