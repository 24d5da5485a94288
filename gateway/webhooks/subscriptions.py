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
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from gateway.config import ALL_KINDS, EventKind, WebhookConfig
from gateway.errors import Conflict, NotFound, StoreError
from gateway.ids import new_id
from gateway.store.base import Store, SubscriptionRecord

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


def _from_record(record: SubscriptionRecord) -> Subscription:
    return Subscription(
        id=record.id,
        url=record.url,
        events=frozenset(EventKind(e) for e in record.events if e in ALL_KINDS),
        secret=record.secret,
        format=record.format,
        account_sid=record.account_sid,
        created_at=record.created_at,
    )


class Registry:
    """Every subscription, in memory; API changes are written through to the store.

    Readers see an immutable snapshot, replaced whole on each change, so the store's
    writer thread may ask :meth:`for_kind` while the event loop changes the set."""

    def __init__(self, configured: Iterable[WebhookConfig] = ()) -> None:
        self._configured = {s.id: s for s in (configured_subscription(w) for w in configured)}
        self._stored: dict[str, Subscription] = {}
        self._store: Store | None = None
        self._snapshot: tuple[Subscription, ...] = tuple(self._configured.values())

    async def load(self, store: Store) -> None:
        """The stored subscriptions; changes are written to ``store`` from now on."""
        self._stored = {s.id: _from_record(s) for s in await store.list_subscriptions()}
        self._store = store
        self._publish()

    def _require_store(self) -> Store:
        if self._store is None:
            raise StoreError("webhook subscriptions are not loaded yet")
        return self._store

    def _publish(self) -> None:
        self._snapshot = (*self._configured.values(), *self._stored.values())

    def all(self) -> list[Subscription]:
        return list(self._snapshot)

    def get(self, sub_id: str) -> Subscription | None:
        return self._configured.get(sub_id) or self._stored.get(sub_id)

    def for_kind(self, kind: EventKind) -> list[Subscription]:
        return [s for s in self._snapshot if kind in s.events]

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
        await self._require_store().add_subscription(
            SubscriptionRecord(
                id=sub.id,
                url=sub.url,
                events=tuple(sorted(sub.events)),
                format=sub.format,
                account_sid=sub.account_sid,
                secret=sub.secret,
                created_at=sub.created_at,
            )
        )
        self._stored[sub.id] = sub
        self._publish()
        return sub

    async def delete(self, sub_id: str) -> None:
        if sub_id in self._configured:
            raise Conflict("this subscription is defined in the configuration file", field="id")
        if sub_id not in self._stored:
            raise NotFound("no such webhook subscription", field="id")
        await self._require_store().delete_subscription(sub_id)
        del self._stored[sub_id]
        self._publish()
