"""What a message sent through a compatibility endpoint needs later, in ``compat_messages``.

The Twilio and Kannel shapes take a callback URL with the message; the spec is kept
sealed under a ``cmp_…`` reference that the message's metadata carries, and read back
when the message changes.

Twilio signs its callbacks with the account's auth token, which here is the API key's
token; keeping it (even sealed) would put a working credential in every backup. So a
callback names its API key, and is signed with a secret derived for that purpose from
the key ring's lookup key (which rotation keeps, so the secret a client configured
stays valid): someone who reads the database learns no token.
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
from typing import Any, Final

from gateway.crypto import KeyRing
from gateway.errors import GatewayError
from gateway.store.sealing import aad, dump_json

log = logging.getLogger(__name__)

TOKENS_PENDING: Final = "compat_tokens_pending"  # meta flag: specs may still hold tokens
_CALLBACK_DOMAIN: Final = "smsgw.twilio.callback.v1\x00"
_TWILIO_CALLBACK: Final = "cb:twilio"  # the outbox receiver (gateway.webhooks.targets)


def callback_secret(keyring: KeyRing, key_id: str) -> str:
    """The secret Twilio status callbacks of one API key are signed with."""
    digest = keyring.lookup_hash(_CALLBACK_DOMAIN + key_id)
    return "cbs_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


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


def drop_tokens(conn: sqlite3.Connection, keyring: KeyRing) -> int:
    """Once, after the migration that flags it: take the API token out of every Twilio
    spec and callback row an older version wrote, naming the key instead (the account
    SID is the key's id). Runs in the caller's transaction; returns values rewritten.

    A value that does not open is left for the next start (the flag stays), rather than
    keeping the store from opening."""
    if conn.execute("SELECT 1 FROM meta WHERE key = ?", (TOKENS_PENDING,)).fetchone() is None:
        return 0
    rewritten = skipped = 0
    for ref, sealed in conn.execute(
        "SELECT ref, spec_enc FROM compat_messages WHERE kind = 'twilio'"
    ).fetchall():
        spec = _opened(keyring, sealed, spec_aad(ref))
        if spec is None:
            skipped += 1
        elif "token" in spec:
            del spec["token"]
            spec["key_id"] = spec.get("account_sid", "")
            conn.execute(
                "UPDATE compat_messages SET spec_enc = ? WHERE ref = ?",
                (keyring.seal(dump_json(spec), aad=spec_aad(ref)), ref),
            )
            rewritten += 1
    for row_id, sealed in conn.execute(
        "SELECT id, payload_enc FROM webhook_outbox WHERE subscriber = ?", (_TWILIO_CALLBACK,)
    ).fetchall():
        row_aad = aad("webhook_outbox", "payload", row_id)
        payload = _opened(keyring, sealed, row_aad)
        if payload is None:
            skipped += 1
        elif "token" in payload:
            del payload["token"]
            payload["key_id"] = payload.get("params", {}).get("AccountSid", "")
            conn.execute(
                "UPDATE webhook_outbox SET payload_enc = ? WHERE id = ?",
                (keyring.seal(dump_json(payload), aad=row_aad), row_id),
            )
            rewritten += 1
    if skipped:
        log.warning(
            "%d Twilio callback value(s) did not open; their tokens stay until they do", skipped
        )
    else:
        conn.execute("DELETE FROM meta WHERE key = ?", (TOKENS_PENDING,))
    return rewritten


def _opened(keyring: KeyRing, sealed: bytes, value_aad: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(keyring.open(sealed, aad=value_aad))
    except (GatewayError, ValueError):
        return None
    return value if isinstance(value, dict) else None
