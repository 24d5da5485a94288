"""Who receives which events: subscriptions from the configuration and from the API.

``[[webhooks]]`` tables in the configuration are fixed for the life of the
process (their id is ``cfg_<name>``); those created through ``POST /v1/webhooks``
live in the store (``whk_…``) with their secret sealed. A subscription has a
*format*: ``smsgw`` (JSON envelope, ``Smsgw-Signature``) or ``twilio`` (Twilio's
incoming-message form fields, ``X-Twilio-Signature`` made with ``secret`` as the
auth token), so software written for Twilio receives inbound texts unchanged.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from gateway.config import ALL_KINDS, EventKind, WebhookConfig
from gateway.crypto import KeyRing
from gateway.errors import Conflict, NotFound
from gateway.ids import new_id
from gateway.store.sealing import aad
from gateway.webhooks.outbox import StoreAccess, drop_receiver

SECRET_BYTES: Final = 32


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    url: str
    events: frozenset[EventKind]
    secret: bytes = field(repr=False)
    format: str = "smsgw"
    account_sid: str | None = None  # the AccountSid a ``twilio`` subscriber expects
    max_attempts: int | None = None  # None: the dispatcher's default
    from_config: bool = False
    created_at: float = 0.0


def configured_subscription(webhook: WebhookConfig) -> Subscription:
    """The subscription a ``[[webhooks]]`` table stands for."""
    return Subscription(
        id=f"cfg_{webhook.name}",
        url=webhook.url,
        events=frozenset(webhook.events),
        secret=webhook.secret.encode(),
        format=webhook.format,
        account_sid=webhook.account_sid,
        max_attempts=webhook.max_attempts,
        from_config=True,
    )


# stored subscriptions ---------------------------------------------------------------

_COLUMNS: Final = "id, url, events, format, account_sid, secret_enc, created_at"


def _secret_aad(sub_id: str) -> bytes:
    return aad("webhook_subscriptions", "secret", sub_id)


def _select(conn: sqlite3.Connection, keyring: KeyRing) -> list[Subscription]:
    found = []
    for sub_id, url, events, fmt, account_sid, secret_enc, created_at in conn.execute(
        f"SELECT {_COLUMNS} FROM webhook_subscriptions ORDER BY id"  # noqa: S608
    ):
        found.append(
            Subscription(
                id=sub_id,
                url=url,
                events=frozenset(EventKind(e) for e in events.split(",") if e in ALL_KINDS),
                secret=keyring.open(secret_enc, aad=_secret_aad(sub_id)),
                format=fmt,
                account_sid=account_sid,
                created_at=created_at,
            )
        )
    return found


class Registry:
    """Every subscription, in memory; API changes are written through to the store."""

    def __init__(self, access: StoreAccess, configured: Iterable[WebhookConfig] = ()) -> None:
        self._access = access
        self._configured = {s.id: s for s in (configured_subscription(w) for w in configured)}
        self._stored: dict[str, Subscription] = {}

    async def load(self) -> None:
        keyring = self._access.keyring
        stored = await self._access.run_read(lambda conn: _select(conn, keyring))
        self._stored = {s.id: s for s in stored}

    def all(self) -> list[Subscription]:
        return [*self._configured.values(), *self._stored.values()]

    def get(self, sub_id: str) -> Subscription | None:
        return self._configured.get(sub_id) or self._stored.get(sub_id)

    def for_kind(self, kind: EventKind) -> list[Subscription]:
        return [s for s in self.all() if kind in s.events]

    async def create(
        self,
        url: str,
        events: Sequence[EventKind],
        *,
        secret: str | None = None,
        fmt: str = "smsgw",
        account_sid: str | None = None,
    ) -> Subscription:
        sub = Subscription(
            id=new_id("whk"),
            url=url,
            events=frozenset(events),
            secret=(secret or secrets.token_urlsafe(SECRET_BYTES)).encode(),
            format=fmt,
            account_sid=account_sid,
            created_at=time.time(),
        )
        sealed = self._access.keyring.seal(sub.secret, aad=_secret_aad(sub.id))
        row = (
            sub.id,
            sub.url,
            ",".join(sorted(sub.events)),
            sub.format,
            sub.account_sid,
            sealed,
            sub.created_at,
        )

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO webhook_subscriptions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                row,
            )

        await self._access.run_write(insert)
        self._stored[sub.id] = sub
        return sub

    async def delete(self, sub_id: str) -> None:
        if sub_id in self._configured:
            raise Conflict("this subscription is defined in the configuration file", field="id")
        if sub_id not in self._stored:
            raise NotFound("no such webhook subscription", field="id")
        now = time.time()

        def remove(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM webhook_subscriptions WHERE id = ?", (sub_id,))
            drop_receiver(conn, sub_id, now)

        await self._access.run_write(remove)
        del self._stored[sub_id]
