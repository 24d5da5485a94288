"""The store's narrow interface: what the daemon and the API may ask of storage.

Everything above this line speaks plain values (numbers in E.164, texts); the
implementation encrypts bodies and numbers field by field and looks numbers up by
keyed hash, so a second backend (PostgreSQL) is an addition, not a rewrite.
Timestamps are POSIX seconds (float, UTC). Ids are sortable strings
(``msg_…``, ``in_…``) so cursor pagination orders by id.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


class Priority(enum.IntEnum):
    URGENT = 0
    NORMAL = 1
    BULK = 2


class MessageState(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset(
    {MessageState.DELIVERED, MessageState.FAILED, MessageState.EXPIRED, MessageState.CANCELLED}
)


class SegmentState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Scope(enum.StrEnum):
    SEND = "send"
    READ = "read"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A validated message ready to persist (the service fills every field)."""

    id: str
    to: str  # E.164
    body: str
    priority: Priority
    send_at: float
    expires_at: float | None
    encoding: str  # drivers.pdu.Encoding value
    segment_count: int
    concat_ref: int  # fixed at accept time so a resend keeps the same reference
    request_report: bool
    route: str | None  # name of the route rule that matched, None for default
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    api_key_id: str | None = None
    request_hash: str | None = None  # fingerprint of the request, for idempotency conflicts


@dataclass(frozen=True, slots=True)
class Segment:
    seq: int  # 1-based
    state: SegmentState
    modem: str | None
    reference: int | None  # TP-MR from +CMGS
    sent_at: float | None
    report_status: int | None  # raw TP-ST of the last report


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    to: str
    body: str
    priority: Priority
    state: MessageState
    created_at: float
    updated_at: float
    send_at: float
    expires_at: float | None
    encoding: str
    concat_ref: int
    request_report: bool
    route: str | None
    tags: tuple[str, ...]
    metadata: dict[str, Any]
    modem: str | None  # modem of the last attempt
    attempts: int
    last_error_code: str | None
    last_error_text: str | None
    sent_at: float | None
    delivered_at: float | None
    segments: tuple[Segment, ...]
    api_key_id: str | None


@dataclass(frozen=True, slots=True)
class QueueItem:
    """What the in-memory scheduler needs about a queued message (no PHI)."""

    id: str
    priority: Priority
    send_at: float
    expires_at: float | None
    route: str | None
    to_hash: bytes  # keyed hash of the number, for sticky conversations
    attempts: int


@dataclass(frozen=True, slots=True)
class AddResult:
    message: Message
    created: bool  # False when an idempotency key returned an earlier message
    # Keyed hash of the number when the store made it while adding (saves making it twice).
    to_hash: bytes | None = None


@dataclass(frozen=True, slots=True)
class ReportResult:
    message_id: str | None  # None: matched nothing; the report is kept as unmatched
    message_state: MessageState | None


@dataclass(frozen=True, slots=True)
class InboundPart:
    modem: str
    sender: str
    text: str
    encoding: str
    received_at: float
    sent_at: float | None  # SCTS from the PDU
    dedupe_key: str  # e.g. sha256(modem id + pdu hex): a re-read after a crash is a no-op
    concat_ref: int | None = None
    concat_total: int | None = None
    concat_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    id: str
    modem: str
    sender: str
    text: str
    encoding: str
    received_at: float
    sent_at: float | None
    parts: int
    complete: bool  # False when released after the reassembly timeout with parts missing
    conversation_id: str


@dataclass(frozen=True, slots=True)
class InboundResult:
    inbound: Inbound | None  # None while parts are missing, or for a duplicate
    duplicate: bool


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    scopes: frozenset[Scope]
    created_at: float
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    at: float
    kind: str  # "modem.down", "modem.up", "modem.reset", "modem.error", ...
    modem: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One link of the hash-chained audit trail (who did what to the gateway, and when)."""

    id: int
    at: float
    actor: str  # an API key id, "cli" or "daemon"
    action: str  # "modem.at", "modem.ussd", "modem.reset", "key.create", "key.rotate", ...
    subject: str | None  # what it was done to: a modem name, a key id
    detail: dict[str, Any]  # sealed at rest; may quote an AT command
    hash: bytes


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class MessageFilter:
    state: MessageState | None = None
    to: str | None = None  # E.164, matched by keyed hash
    tag: str | None = None
    since: float | None = None
    until: float | None = None


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    unknown_segments: int  # segments found `sending` after a crash, now `unknown`
    requeued_messages: int


class Store(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...

    # messages ------------------------------------------------------------
    async def add_messages(self, messages: Sequence[NewMessage]) -> list[AddResult]:
        """Commit (durably, group-committed) before returning: invariant 1."""
        ...

    async def get_message(self, message_id: str) -> Message | None: ...
    async def list_messages(
        self, flt: MessageFilter, *, cursor: str | None, limit: int
    ) -> Page[Message]: ...
    async def cancel_message(self, message_id: str) -> Message:
        """Raises NotFound, or NotCancellable once a segment has been handed to a modem."""
        ...

    async def recover(self, *, resend_unknown: bool) -> RecoveryReport:
        """At start: `sending` segments become `unknown`; their message becomes `unknown`
        (or queued again when ``resend_unknown``); `sending` messages with no segment
        in flight go back to `queued`."""
        ...

    async def queued(self) -> list[QueueItem]:
        """Every message in state `queued`, for the scheduler at start."""
        ...

    async def segment_sending(self, message_id: str, seq: int, modem: str) -> None:
        """Durable before AT+CMGS is written (invariant 5)."""
        ...

    async def segment_sent(
        self, message_id: str, seq: int, modem: str, reference: int, at: float
    ) -> MessageState: ...
    async def segment_unknown(self, message_id: str, seq: int, modem: str, error: str) -> None: ...
    async def requeue(
        self,
        message_id: str,
        *,
        send_at: float,
        error_code: str,
        error_text: str,
        count_attempt: bool = True,
    ) -> None:
        """Back to `queued` with the last error kept; attempts+1 unless ``count_attempt``
        is False (the modem never got the message, e.g. it went away before AT+CMGS)."""
        ...

    async def finish(
        self,
        message_id: str,
        state: MessageState,
        *,
        error_code: str | None,
        error_text: str | None,
    ) -> None:
        """Final states decided by the daemon: failed, expired, unknown."""
        ...

    # reports ---------------------------------------------------------------
    async def apply_report(
        self, modem: str, reference: int, recipient: str, status: int, at: float
    ) -> ReportResult:
        """Match on (modem, TP-MR, recipient's trailing digits, recent send)."""
        ...

    async def unmatched_reports(self) -> int: ...

    # inbound ---------------------------------------------------------------
    async def add_inbound(self, part: InboundPart) -> InboundResult:
        """Commit before the caller deletes the message from the modem (invariant 2)."""
        ...

    async def release_incomplete(self, older_than: float) -> list[Inbound]: ...
    async def get_inbound(self, inbound_id: str) -> Inbound | None: ...
    async def list_inbound(
        self, *, sender: str | None, modem: str | None, cursor: str | None, limit: int
    ) -> Page[Inbound]: ...
    async def conversation_modem(self, to_hash: bytes) -> str | None:
        """The modem a patient last wrote to (sticky replies)."""
        ...

    def number_hash(self, number: str) -> bytes: ...

    # API keys ----------------------------------------------------------------
    async def create_api_key(self, name: str, scopes: frozenset[Scope]) -> tuple[ApiKey, str]:
        """Returns the key and its token; only a hash of the token is stored."""
        ...

    async def verify_api_key(self, token: str) -> ApiKey | None: ...
    async def list_api_keys(self) -> list[ApiKey]: ...
    async def revoke_api_key(self, key_id: str) -> ApiKey: ...

    # events ------------------------------------------------------------------
    async def add_event(self, kind: str, modem: str | None, detail: dict[str, Any]) -> None: ...
    async def list_events(self, *, cursor: str | None, limit: int) -> Page[Event]: ...

    # audit -------------------------------------------------------------------
    async def audit(
        self, actor: str, action: str, detail: dict[str, Any], *, subject: str | None = None
    ) -> None:
        """Append one entry to the hash chain, committed before returning."""
        ...

    async def list_audit(self, *, cursor: str | None, limit: int) -> Page[AuditEntry]:
        """Newest first."""
        ...

    async def verify_audit(self) -> int:
        """Walk the chain from its start; the number of entries verified.
        Raises AuditBroken at the first entry that does not verify."""
        ...

    # housekeeping ------------------------------------------------------------
    async def stats(self) -> dict[str, int]:
        """Counts by message state, queued by priority, store size in bytes."""
        ...

    async def rotate_key(self, *, batch: int = 500) -> int:
        """Re-encrypt every value sealed with an older key id; returns rows rewritten."""
        ...

    async def purge(self, older_than: float) -> int:
        """Retention: delete final messages and inbound older than the cutoff."""
        ...
