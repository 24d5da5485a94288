"""Matching status reports (+CDS) to the segments they describe.

A report names the modem's message reference (TP-MR, one byte, so it wraps every
256 sends) and the recipient, often in another format than we sent
(``+4915…`` out, ``015…`` back). We match on the modem and reference, take the
most recent send within :data:`MATCH_WINDOW_SECONDS`, and confirm with the
number's trailing digits, so a wrapped reference to another patient is not taken
for this one. Reports that match nothing are kept (with the number hashed) and
counted, for the technician.
"""

from __future__ import annotations

import sqlite3
import time

from gateway.crypto import KeyRing
from gateway.store.base import FINAL_STATES, MessageState, ReportResult
from gateway.store.sealing import aad

MATCH_WINDOW_SECONDS = 7 * 24 * 3600.0
TAIL_DIGITS = 7  # enough to tell patients apart, few enough to skip country/trunk prefixes
_MAX_CANDIDATES = 64

# TP-ST ranges (3GPP TS 23.040 §9.2.3.15).
_PENDING_FROM = 0x20
_FAILED_FROM = 0x40


def _digits(number: str) -> str:
    return "".join(char for char in number if char.isdigit())


def same_number(sent_to: str, reported: str) -> bool:
    """Trailing-digit comparison; a report without a number matches on reference alone."""
    theirs = _digits(reported)
    if not theirs:
        return True
    ours = _digits(sent_to)
    n = min(TAIL_DIGITS, len(ours), len(theirs))
    return n > 0 and ours[-n:] == theirs[-n:]


def apply_report(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    modem: str,
    reference: int,
    recipient: str,
    status: int,
    at: float,
) -> ReportResult:
    match: tuple[str, int] | None = None
    for message_id, seq, recipient_enc in conn.execute(
        "SELECT s.message_id, s.seq, m.recipient_enc FROM segments AS s "
        "JOIN messages AS m ON m.id = s.message_id "
        "WHERE s.modem = ? AND s.reference = ? AND s.sent_at >= ? "
        "ORDER BY s.sent_at DESC LIMIT ?",
        (modem, reference, at - MATCH_WINDOW_SECONDS, _MAX_CANDIDATES),
    ).fetchall():
        sent_to = keyring.open(recipient_enc, aad=aad("messages", "recipient", message_id))
        if same_number(sent_to.decode(), recipient):
            match = (message_id, seq)
            break
    conn.execute(
        "INSERT INTO reports (modem, reference, recipient_hash, status, at, message_id, seq) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            modem,
            reference,
            keyring.lookup_hash(recipient),
            status,
            at,
            *(match if match else (None, None)),
        ),
    )
    if match is None:
        return ReportResult(message_id=None, message_state=None)
    message_id, seq = match
    segment_state = (
        "delivered" if status < _PENDING_FROM else "sent" if status < _FAILED_FROM else "failed"
    )
    conn.execute(
        "UPDATE segments SET state = ?, report_status = ?, reported_at = ? "
        "WHERE message_id = ? AND seq = ?",
        (segment_state, status, at, message_id, seq),
    )
    state = MessageState(
        conn.execute("SELECT state FROM messages WHERE id = ?", (message_id,)).fetchone()[0]
    )
    if segment_state == "failed" and state not in FINAL_STATES:
        conn.execute(
            "UPDATE messages SET state = 'failed', last_error_code = 'report_failed', "
            "last_error_text = ?, updated_at = ? WHERE id = ?",
            (f"status report TP-ST 0x{status:02X}", time.time(), message_id),
        )
        state = MessageState.FAILED
    elif segment_state == "delivered" and state not in FINAL_STATES:
        undelivered = conn.execute(
            "SELECT count(*) FROM segments WHERE message_id = ? AND state != 'delivered'",
            (message_id,),
        ).fetchone()[0]
        if undelivered == 0:
            conn.execute(
                "UPDATE messages SET state = 'delivered', delivered_at = ?, updated_at = ? "
                "WHERE id = ?",
                (at, time.time(), message_id),
            )
            state = MessageState.DELIVERED
    return ReportResult(message_id=message_id, message_state=state)


def count_unmatched(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM reports WHERE message_id IS NULL").fetchone()
    return int(row[0])
