"""Operational events (modem down/up/reset/error) with their detail sealed.

Details come from code paths that may quote a modem's answer or a number, so they
are sealed like any other value rather than trusted to be PHI-free.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from gateway.crypto import KeyRing
from gateway.store.base import EventLogEntry
from gateway.store.sealing import aad, dump_json


def insert_event(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    at: float,
    kind: str,
    modem: str | None,
    detail: dict[str, Any],
) -> int:
    # The row id is part of the associated data, so it is known only after the insert.
    event_id = conn.execute(
        "INSERT INTO events (at, kind, modem) VALUES (?, ?, ?)", (at, kind, modem)
    ).lastrowid
    assert event_id is not None
    conn.execute(
        "UPDATE events SET detail_enc = ? WHERE id = ?",
        (keyring.seal(dump_json(detail), aad=aad("events", "detail", event_id)), event_id),
    )
    return event_id


def select_events(
    conn: sqlite3.Connection, keyring: KeyRing, before_id: int | None, limit: int
) -> list[EventLogEntry]:
    where = "WHERE id < ?" if before_id is not None else ""
    params: list[Any] = [before_id] if before_id is not None else []
    events = []
    for event_id, at, kind, modem, detail_enc in conn.execute(
        f"SELECT id, at, kind, modem, detail_enc FROM events {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
        [*params, limit],
    ):
        detail = (
            json.loads(keyring.open(detail_enc, aad=aad("events", "detail", event_id)))
            if detail_enc is not None
            else {}
        )
        events.append(EventLogEntry(id=event_id, at=at, kind=kind, modem=modem, detail=detail))
    return events
