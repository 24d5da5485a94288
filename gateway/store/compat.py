"""What a message sent through a compatibility endpoint needs later, in ``compat_messages``.

The Twilio and Kannel shapes take a callback URL (and, for Twilio, the token that
signs it) with the message; the spec is kept sealed under a ``cmp_…`` reference
that the message's metadata carries, and read back when the message changes.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from gateway.crypto import KeyRing
from gateway.store.sealing import aad


def spec_aad(ref: str) -> bytes:
    return aad("compat_messages", "spec", ref)


def insert_spec(
    conn: sqlite3.Connection, ref: str, kind: str, sealed: bytes, created_at: float
) -> None:
    conn.execute(
        "INSERT INTO compat_messages (ref, kind, spec_enc, created_at) VALUES (?, ?, ?, ?)",
        (ref, kind, sealed, created_at),
    )


def load_spec(conn: sqlite3.Connection, keyring: KeyRing, ref: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT spec_enc FROM compat_messages WHERE ref = ?", (ref,)).fetchone()
    if row is None:
        return None
    spec: dict[str, Any] = json.loads(keyring.open(row[0], aad=spec_aad(ref)))
    return spec
