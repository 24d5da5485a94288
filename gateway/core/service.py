"""What the HTTP API (and CLI) may ask of the running daemon.

The API layer validates the *shape* of a request; the service validates its
*meaning* (number normalisation, segment limits, routing) so that every entry
point (``/v1``, the Twilio and Kannel shapes, the CLI) shares one rule set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from drivers.types import Health, Identity
from gateway.config import ApiSettings
from gateway.core.waiting import Waiting
from gateway.store.base import AddResult, ApiKey, Message, Priority, Store


@dataclass(frozen=True, slots=True)
class SendRequest:
    to: str  # as the client wrote it; the service normalises to E.164
    body: str
    priority: Priority = Priority.NORMAL
    send_at: float | None = None  # POSIX seconds
    ttl: float | None = None  # seconds from send_at (or now)
    idempotency_key: str | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    request_report: bool = True
    category: str | None = None  # None: the API key's default category (else "care")
    field_prefix: str = ""  # "messages[3]." in a batch, so errors name the field
    replies: Mapping[str, str] | None = None  # what the patient may answer -> its meaning
    reply_window: float | None = None  # seconds; None: the default (72 h) when replies


@dataclass(frozen=True, slots=True)
class ModemStatus:
    name: str  # the configured, stable, non-PHI name
    port: str
    profile: str
    state: str  # drivers.types.ModemState value, or "degraded"
    reason: str | None
    tags: tuple[str, ...]
    identity: Identity | None
    health: Health | None
    sent_total: int
    failed_total: int
    last_error: str | None
    last_seen: float | None  # last time the modem answered anything
    balance: float | None = None  # prepaid credit read from the last balance check
    balance_text: str | None = None  # the operator's reply to that check, as sent
    balance_at: float | None = None  # when that check was answered (POSIX s)
    waiting: Waiting | None = None  # why it takes no work now; None when it would
    number: str | None = None  # the SIM's own number (config, else AT+CNUM), if known


class GatewayService(Protocol):
    api: ApiSettings

    @property
    def store(self) -> Store: ...

    async def submit(
        self,
        requests: Sequence[SendRequest],
        api_key: ApiKey | None,
        *,
        refuse_opted_out: bool = False,
    ) -> list[AddResult]:
        """All or nothing: a bad item raises ValidationError naming ``field_prefix + field``.

        An item to a number that opted out of it is recorded `suppressed`; with
        ``refuse_opted_out`` (a single send) it raises OptedOut and nothing is stored."""
        ...

    async def cancel(
        self, message_id: str, *, owner: str | None = None, actor: str = "api"
    ) -> Message:
        """``owner``: an API key id; another key's message raises NotFound. ``actor``
        (the API key's id) goes to the audit trail."""
        ...

    def modems(self) -> list[ModemStatus]: ...

    def waiting(self, message_id: str) -> Waiting | None:
        """Why a queued message is not being sent; None when it is not queued."""
        ...

    def is_ready(self) -> bool:
        """Store open and at least one modem ready."""
        ...

    def not_ready_reason(self) -> str | None:
        """Why ``is_ready`` is false (for ``/readyz``), or None when ready."""
        ...
