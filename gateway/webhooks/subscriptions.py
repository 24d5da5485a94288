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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from gateway.errors import ConfigError, Conflict, NotFound, StoreError, ValidationError
from gateway.ids import new_id
from gateway.store.base import Store, SubscriptionRecord
from gateway.webhooks.events import ALL_KINDS, EventKind

FORMATS: Final = ("smsgw", "twilio")
MAX_URL_CHARS: Final = 2048
MIN_SECRET_CHARS: Final = 16
SECRET_BYTES: Final = 32
CONFIG_KEYS: Final = frozenset(
    {"name", "url", "events", "secret", "secret_file", "format", "account_sid", "max_attempts"}
)


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


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """One ``[[webhooks]]`` table of the configuration file."""

    name: str
    url: str
    events: tuple[EventKind, ...]
    secret: str = field(repr=False)
    format: str = "smsgw"
    account_sid: str | None = None
    max_attempts: int | None = None

    def subscription(self) -> Subscription:
        return Subscription(
            id=f"cfg_{self.name}",
            url=self.url,
            events=frozenset(self.events),
            secret=self.secret.encode(),
            format=self.format,
            account_sid=self.account_sid,
            max_attempts=self.max_attempts,
            from_config=True,
        )


def check_url(url: object, field_name: str) -> str:
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise ValidationError(f"{field_name} must be an http(s) URL", field=field_name)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"{field_name} must be an http(s) URL", field=field_name)
    return url


def check_events(value: object, field_name: str) -> tuple[EventKind, ...]:
    names = ", ".join(sorted(ALL_KINDS))
    if not isinstance(value, list) or not value:
        raise ValidationError(
            f"{field_name} must be a non-empty list of: {names}", field=field_name
        )
    kinds: list[EventKind] = []
    for item in value:
        if not isinstance(item, str) or item not in ALL_KINDS:
            raise ValidationError(f"{field_name} must only hold: {names}", field=field_name)
        if EventKind(item) not in kinds:
            kinds.append(EventKind(item))
    return tuple(kinds)


def parse_webhooks(items: object, *, base_dir: Path) -> tuple[WebhookConfig, ...]:
    """Validate the configuration's ``webhooks`` array (``[[webhooks]]`` tables)."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ConfigError("webhooks must be an array of tables", field="webhooks")
    found: list[WebhookConfig] = []
    for index, item in enumerate(items):
        prefix = f"webhooks[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{prefix} must be a table", field=prefix)
        try:
            found.append(_parse_one(item, prefix, base_dir))
        except ValidationError as exc:
            raise ConfigError(exc.message, field=exc.field) from None
    names = [w.name for w in found]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ConfigError(
                f"webhooks[{index}].name: duplicate name {name!r}", field=f"webhooks[{index}].name"
            )
    return tuple(found)


def _parse_one(item: Mapping[str, Any], prefix: str, base_dir: Path) -> WebhookConfig:
    for key in item:
        if key not in CONFIG_KEYS:
            raise ValidationError(f"{prefix}.{key}: unknown key", field=f"{prefix}.{key}")
    name = item.get("name", prefix.replace("[", "").replace("]", ""))
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise ValidationError(
            f"{prefix}.name: letters, digits, - and _ only", field=f"{prefix}.name"
        )
    url = check_url(item.get("url"), f"{prefix}.url")
    events = check_events(item.get("events"), f"{prefix}.events")
    secret = _config_secret(item, prefix, base_dir)
    fmt = item.get("format", "smsgw")
    if fmt not in FORMATS:
        raise ValidationError(
            f"{prefix}.format: one of {', '.join(FORMATS)}", field=f"{prefix}.format"
        )
    account_sid = item.get("account_sid")
    if account_sid is not None and not isinstance(account_sid, str):
        raise ValidationError(f"{prefix}.account_sid: a string", field=f"{prefix}.account_sid")
    max_attempts = item.get("max_attempts")
    if max_attempts is not None and (
        isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1
    ):
        raise ValidationError(
            f"{prefix}.max_attempts: a positive integer", field=f"{prefix}.max_attempts"
        )
    return WebhookConfig(name, url, events, secret, str(fmt), account_sid, max_attempts)


def _config_secret(item: Mapping[str, Any], prefix: str, base_dir: Path) -> str:
    secret, secret_file = item.get("secret"), item.get("secret_file")
    if (secret is None) == (secret_file is None):
        raise ValidationError(
            f"{prefix}: exactly one of secret and secret_file", field=f"{prefix}.secret"
        )
    if secret_file is not None:
        if not isinstance(secret_file, str):
            raise ValidationError(f"{prefix}.secret_file: a path", field=f"{prefix}.secret_file")
        path = Path(secret_file) if Path(secret_file).is_absolute() else base_dir / secret_file
        try:
            secret = path.read_text().strip()
        except OSError as exc:
            raise ValidationError(
                f"{prefix}.secret_file: cannot read ({exc.strerror})", field=f"{prefix}.secret_file"
            ) from None
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_CHARS:
        raise ValidationError(
            f"{prefix}.secret: at least {MIN_SECRET_CHARS} characters", field=f"{prefix}.secret"
        )
    return secret


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
        self._configured = {s.id: s for s in (w.subscription() for w in configured)}
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
