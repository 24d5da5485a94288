"""Webhook subscriptions made through the API, in ``webhook_subscriptions`` (secret sealed)."""

from __future__ import annotations

import sqlite3
from typing import Final

from gateway.crypto import KeyRing
from gateway.store import outbox
from gateway.store.base import SubscriptionRecord
from gateway.store.sealing import aad

_COLUMNS: Final = "id, url, events, format, account_sid, secret_enc, created_at"


def secret_aad(sub_id: str) -> bytes:
    return aad("webhook_subscriptions", "secret", sub_id)


def select(conn: sqlite3.Connection, keyring: KeyRing) -> list[SubscriptionRecord]:
    return [
        SubscriptionRecord(
            id=sub_id,
            url=url,
            events=tuple(e for e in events.split(",") if e),
            format=fmt,
            account_sid=account_sid,
            secret=keyring.open(secret_enc, aad=secret_aad(sub_id)),
            created_at=created_at,
        )
        for sub_id, url, events, fmt, account_sid, secret_enc, created_at in conn.execute(
            f"SELECT {_COLUMNS} FROM webhook_subscriptions ORDER BY id"  # noqa: S608
        )
    ]


def insert(conn: sqlite3.Connection, sub: SubscriptionRecord, secret_enc: bytes) -> None:
    conn.execute(
        f"INSERT INTO webhook_subscriptions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        (
            sub.id,
            sub.url,
            ",".join(sorted(sub.events)),
            sub.format,
            sub.account_sid,
            secret_enc,
            sub.created_at,
        ),
    )


def delete(conn: sqlite3.Connection, sub_id: str, at: float) -> None:
    conn.execute("DELETE FROM webhook_subscriptions WHERE id = ?", (sub_id,))
    outbox.drop_receiver(conn, sub_id, at)
