"""The store's narrow interface: what the daemon, the webhooks and the API may ask of storage.

Everything above this line speaks plain values (numbers in E.164, texts); the
implementation encrypts bodies and numbers field by field and looks numbers up by
keyed hash, so a second backend (PostgreSQL) is an addition, not a rewrite.
Timestamps are POSIX seconds (float, UTC). Ids are sortable strings
(``msg_…``, ``in_…``) so cursor pagination orders by id.

What every backend guarantees:

- A write method returns only once its change is durable (committed with the
  configured durability), and is atomic: it happens entirely or not at all. A
  method that raises changed nothing.
- *Events commit with their cause.* A change that notifies (see
  :data:`MESSAGE_CHANGES` and each method's docstring) writes its outbox rows, one
  per receiver the :class:`Fanout` names, in the same transaction as the change,
  so a crash cannot keep one without the other. After such a commit the backend
  calls its ``on_outbox`` callback (on the event loop) so the dispatcher looks
  again. When the fan-out wants nothing for a change, no event is built.
- An outbox row is unique per (receiver, kind, source): a change applied twice
  (a report received twice) notifies once.
- Sealed values (bodies, numbers, metadata, details, payloads, secrets) are
  encrypted at rest with the key ring, bound to their table, column and row.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Protocol, TypeVar

from gateway.store.secure_records import (
    SMS,
    NewSecureMessage,
    SecureAttachment,
    SecureContent,
    SecureMessage,
    VerifyOutcome,
)

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
    SUPPRESSED = "suppressed"  # the patient opted out; nothing was written to a modem


FINAL_STATES = frozenset(
    {
        MessageState.DELIVERED,
        MessageState.FAILED,
        MessageState.EXPIRED,
        MessageState.CANCELLED,
        MessageState.SUPPRESSED,
    }
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
    READ = "read"  # what this key sent, and the replies to conversations it started
    READ_ALL = "read_all"  # every client's messages and inbound texts (staff tools)
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class ExpectedReplies:
    """What a message asks the patient to answer (sealed at rest: clinic text)."""

    replies: Mapping[str, str]  # what the patient may text -> its meaning
    window: float  # seconds, from when the message went out


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer a message got: the meaning matched, and the text that carried it."""

    value: str
    inbound_id: str
    received_at: float


@dataclass(frozen=True, slots=True)
class ReplyNudge:
    """An answer that matched nothing, within a window: the one nudge of that message."""

    message_id: str
    keys: tuple[str, ...]  # what the patient may answer, as the message declared it


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
    category: str = "care"  # a configured category (gateway.config.CategoryConfig)
    replies: ExpectedReplies | None = None


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
    category: str = "care"
    replies: ExpectedReplies | None = None
    reply: Reply | None = None  # the patient's matched answer
    conversation_id: str | None = None  # the thread with its recipient (None: made before)


@dataclass(frozen=True, slots=True)
class RateMark:
    """One send counted in a modem's rate windows, kept with the segment's `sending` state
    so a restart cannot reset a cap; rows of the modem before ``forget_before`` go."""

    at: float  # POSIX seconds
    forget_before: float


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
    category: str = "care"  # its quiet hours may hold it back


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
    dedupe_key: str  # e.g. sha256(modem, slot, pdu hex): a re-read after a crash is a no-op
    concat_ref: int | None = None
    concat_total: int | None = None
    concat_seq: int | None = None
    # None: the key holds until ``release_inbound`` (a stored slot, freed on the modem);
    # seconds: how long it holds (a routed message has no slot, only its content).
    dedupe_window: float | None = None
    channel: str = SMS  # SECURE_PAGE: typed on a secure message's page


@dataclass(frozen=True, slots=True)
class UndecodableInbound:
    """A received PDU no decoder can read: kept sealed, since it may hold a text."""

    modem: str
    pdu_hex: str
    received_at: float
    dedupe_key: str  # as for InboundPart (a stored slot's key, released the same way)
    slot: str | None  # "SM/3" where the modem stored it; None when routed
    dedupe_window: float | None = None


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
    in_reply_to: str | None = None  # the message whose expected replies it matched
    reply_value: str | None = None  # the meaning it matched
    channel: str = SMS  # SECURE_PAGE: typed on a secure message's page


@dataclass(frozen=True, slots=True)
class InboundResult:
    inbound: Inbound | None  # None while parts are missing, or for a duplicate
    duplicate: bool
    consent: ConsentResult | None = None  # what the text changed on the suppression list


@dataclass(frozen=True, slots=True)
class OpenReply:
    """A message still waiting for the patient's answer (sent, in its window, unanswered)."""

    message_id: str
    replies: Mapping[str, str]
    until: float  # when its window closes


@dataclass(frozen=True, slots=True)
class Conversation:
    """One patient's thread: every message to the number and every text from it."""

    id: str
    number: str  # E.164 or a sender's name; sealed at rest, looked up by keyed hash
    number_hash: bytes
    modem: str | None  # the modem the patient last wrote to; None before they wrote
    last_at: float  # the newest message either way
    unread: int  # texts from the patient since staff last marked the thread read
    read_at: float | None
    open_reply: OpenReply | None = None


@dataclass(frozen=True, slots=True)
class Thread:
    """A page of a conversation, oldest first; ``next_cursor`` reaches further back."""

    conversation: Conversation
    items: list[Message | Inbound]  # in the order they happened
    next_cursor: str | None


ALL_CATEGORIES: Final = "*"  # a suppression's category when it covers every category


@dataclass(frozen=True, slots=True)
class Suppression:
    """One entry of the opt-out list: a number that must not get ``category`` (or any)."""

    id: str
    number: str  # E.164; sealed at rest, looked up by keyed hash
    category: str | None  # None: every category that honours opt-out
    source: str  # "keyword" (the patient texted it) or "api" (staff added it)
    reason: str | None  # free text from staff; sealed at rest
    created_at: float
    modem: str | None = None  # the modem the patient wrote to, for a keyword


@dataclass(frozen=True, slots=True)
class Template:
    """A named message text with ``{variables}``; the body and replies are sealed at rest
    (they may hold clinic text). ``replies`` is kept as given: answer -> meaning."""

    name: str
    category: str
    body: str
    replies: dict[str, str] | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """What an inbound text asks of the suppression list (decided by the consent rules)."""

    opt_out: bool  # True: add the sender; False: take the sender off
    category: str | None  # None: every category; START takes off every entry


# The change a text asks of the opt-out list (gateway.consent's rules), injected into the
# store like the fan-out: pure and quick, as it runs inside the write transaction.
ConsentRule = Callable[[str], ConsentChange | None]
# The meaning a text answers among a message's expected replies, or None (gateway.core.
# replies), injected the same way: the match commits with the text.
ReplyRule = Callable[[str, Mapping[str, str]], str | None]


@dataclass(frozen=True, slots=True)
class ConsentResult:
    change: ConsentChange
    suppressions: tuple[Suppression, ...]  # entries added, or removed; empty: nothing changed


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """What one client may do, kept with its key so a change applies at the next request."""

    requests_per_minute: int | None = None  # None: unlimited
    messages_per_day: int | None = None  # messages accepted in any 24 hours; None: unlimited
    expires_at: float | None = None  # POSIX seconds; None: never
    networks: tuple[str, ...] = ()  # CIDR blocks requests may come from; empty: any


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    scopes: frozenset[Scope]
    created_at: float
    revoked_at: float | None
    default_category: str = "care"  # what sends that name none take (Twilio, Kannel)
    limits: KeyLimits = field(default_factory=KeyLimits)
    last_used_at: float | None = None  # written in batches: up to a minute behind


@dataclass(frozen=True, slots=True)
class EventLogEntry:
    """One line of the operational log behind ``/v1/events`` (not a webhook event)."""

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
    owner: str | None = None  # an API key id: only the messages it sent; None: every client's
    category: str | None = None
    modem: str | None = None  # the modem that took (or last tried) the message


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    unknown_segments: int  # segments found `sending` after a crash, now `unknown`
    requeued_messages: int


@dataclass(frozen=True, slots=True)
class Change:
    """A committed-to-be state change the outbox may be told of (one of the kinds in
    :data:`MESSAGE_CHANGES`, ``inbound.received``, ``modem.up``, ``modem.down``)."""

    kind: str
    at: float
    number_hash: bytes | None = None  # keyed hash of the patient's number (ordering key)
    message: Message | None = None
    inbound: Inbound | None = None
    modem: str | None = None
    detail: Mapping[str, Any] | None = None  # a modem event's detail
    suppression: Suppression | None = None  # for ``consent.opted_out`` / ``consent.opted_in``
    reply: Reply | None = None  # for ``reply.matched`` (with its ``message``)
    secure: SecureMessage | None = None  # for the ``secure.*`` kinds


# A message reaching one of these states notifies with this kind: every outcome has
# one, so no subscriber is left showing a message as pending for ever.
MESSAGE_CHANGES: Final = {
    MessageState.SENT: "message.sent",
    MessageState.DELIVERED: "message.delivered",
    MessageState.FAILED: "message.failed",
    MessageState.EXPIRED: "message.expired",
    MessageState.CANCELLED: "message.cancelled",
    MessageState.UNKNOWN: "message.unknown",
    MessageState.SUPPRESSED: "message.suppressed",
}
INBOUND_RECEIVED: Final = "inbound.received"
CONSENT_OPTED_OUT: Final = "consent.opted_out"
CONSENT_OPTED_IN: Final = "consent.opted_in"
REPLY_MATCHED: Final = "reply.matched"
SECURE_READ: Final = "secure.read"
SECURE_ANSWERED: Final = "secure.answered"
SECURE_LOCKED: Final = "secure.locked"
MODEM_CHANGES: Final = frozenset({"modem.up", "modem.down"})


@dataclass(frozen=True, slots=True)
class Notice:
    """One outbox row to write: an event for one receiver."""

    receiver: str  # a subscription id, or a per-message callback receiver
    kind: str
    order_key: str  # rows of one receiver and key are delivered in order
    source: str | None  # message or inbound id: one row per (receiver, kind, source)
    body: Callable[[str], bytes]  # the payload, given the row's id


class Fanout(Protocol):
    """Who is told of a change and what they receive, injected into the store.

    Pure and quick: it runs inside the store's write transaction (on the SQLite
    backend, on its writer thread), so it reads only immutable snapshots and does
    no I/O other than through ``spec``."""

    def wants(self, kind: str, metadata: Mapping[str, Any]) -> bool:
        """Whether a change of ``kind`` (to a message with ``metadata``; empty for
        other changes) may notify anyone; False spares building the event."""
        ...

    def notices(self, change: Change, spec: Callable[[str], dict[str, Any] | None]) -> list[Notice]:
        """The rows to write; ``spec(ref)`` reads a saved compatibility spec."""
        ...


# Webhook deliveries ------------------------------------------------------------------

PENDING: Final = "pending"
DELIVERED: Final = "delivered"
DEAD: Final = "dead"
DELIVERY_STATES: Final = (PENDING, DELIVERED, DEAD)


@dataclass(frozen=True, slots=True)
class DueDelivery:
    id: str
    subscriber: str
    kind: str
    attempts: int
    payload: bytes  # opened; holds PHI, so it is never logged or stored in clear


@dataclass(frozen=True, slots=True)
class Attempt:
    at: float
    attempt: int
    status: int | None  # HTTP status, None when no answer came
    error: str | None  # a short class of failure ("timeout", "connect", "http 500")
    duration: float


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    subscriber: str
    kind: str
    state: str
    created_at: float
    attempts: int
    next_at: float | None
    delivered_at: float | None
    last_error: str | None
    history: tuple[Attempt, ...]


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """A webhook subscription made through the API, as the store keeps it."""

    id: str
    url: str
    events: tuple[str, ...]
    format: str
    account_sid: str | None
    secret: bytes = field(repr=False)  # sealed at rest
    created_at: float


class Store(Protocol):
    async def open(self) -> None:
        """Ready for use: schema up to date, and the key ring proven to be this
        store's (else KeyFileError). Raises StoreError when already open."""
        ...

    async def close(self) -> None:
        """Commit what is queued, then release the database."""
        ...

    def health(self) -> str | None:
        """Why the store cannot take writes now (its file deleted or replaced, writes
        failing for want of storage), or None. Cheap; logs a change of reason once."""
        ...

    # messages ------------------------------------------------------------
    async def add_messages(
        self, messages: Sequence[NewMessage], *, audited_by: tuple[str, str] | None = None
    ) -> list[AddResult]:
        """Commit (durably, group-committed) before returning: invariant 1.

        ``audited_by`` (actor, action): one audit entry naming the messages created, in
        the same transaction, so no send is kept without its record (or the reverse).

        All or nothing. A message whose (API key, idempotency key) exists returns the
        earlier message with ``created=False``; the same key with another request
        fingerprint raises IdempotencyConflict and stores none of the batch."""
        ...

    async def get_message(self, message_id: str, *, owner: str | None = None) -> Message | None:
        """``owner``: an API key id; another key's message is None, as a missing one is."""
        ...

    async def list_messages(
        self, flt: MessageFilter, *, cursor: str | None, limit: int
    ) -> Page[Message]:
        """Newest first; ``next_cursor`` is None on the last page. ValidationError on a
        bad cursor or a limit below 1; limits above the backend's page size are capped."""
        ...

    async def cancel_message(self, message_id: str, *, owner: str | None = None) -> Message:
        """Raises NotFound (also for another key's message when ``owner``, an API key id,
        is given), or NotCancellable once a segment has been handed to a modem.
        Cancelling a cancelled message returns it unchanged. Notifies
        ``message.cancelled`` in the same transaction, once."""
        ...

    async def recover(self, *, resend_unknown: bool) -> RecoveryReport:
        """At start: `sending` segments become `unknown`; their message becomes `unknown`
        (or queued again when ``resend_unknown``); `sending` messages with no segment
        in flight go back to `queued`. One transaction; each message left `unknown`
        notifies ``message.unknown`` in it."""
        ...

    async def queued(self) -> list[QueueItem]:
        """Every message in state `queued`, for the scheduler at start."""
        ...

    async def queued_page(self, after: str, limit: int) -> list[QueueItem]:
        """Up to ``limit`` queued messages with ids after ``after`` (``""``: from the
        first), in id order: the queue loaded in pieces at start."""
        ...

    async def oldest_due(self, now: float) -> float | None:
        """The earliest send time of the queued messages due at ``now``; None when none is.
        An index lookup, for the metrics (not a scan of the queue)."""
        ...

    async def segment_sending(
        self, message_id: str, seq: int, modem: str, *, rate: RateMark | None = None
    ) -> None:
        """Durable before AT+CMGS is written (invariant 5). Raises NotFound, or
        Conflict when the message is past `queued`/`sending`. ``rate``: the send as the
        modem's rate windows count it, written in the same transaction."""
        ...

    async def rate_sends(self, modem: str, since: float) -> list[float]:
        """The modem's counted send times after ``since``, oldest first (at start)."""
        ...

    async def segment_sent(
        self, message_id: str, seq: int, modem: str, reference: int, at: float
    ) -> MessageState:
        """Records the modem's reference; the message becomes `sent` when its last
        segment is. Returns the message's state; `sent` notifies ``message.sent``
        in the same transaction."""
        ...

    async def segment_unknown(
        self, message_id: str, seq: int, modem: str, error: str, *, final: bool = True
    ) -> None:
        """The answer to AT+CMGS was lost: segment and message `unknown`. When ``final``
        notifies ``message.unknown`` in the same transaction; not when the caller puts the
        message back in the queue next (``resend_unknown``), as that is no outcome."""
        ...

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
        is False (the modem never got the message, e.g. it went away before AT+CMGS).
        Segments accepted by the network stay sent. No event."""
        ...

    async def finish(
        self,
        message_id: str,
        state: MessageState,
        *,
        error_code: str | None,
        error_text: str | None,
    ) -> None:
        """Final states decided by the daemon: failed, expired, unknown. Each notifies
        (``message.failed``, ``message.expired``, ``message.unknown``) in the same
        transaction. Raises NotFound."""
        ...

    # reports ---------------------------------------------------------------
    async def apply_report(
        self, modem: str, reference: int, recipient: str, status: int, at: float
    ) -> ReportResult:
        """Match on (modem, TP-MR, recipient's trailing digits, recent send); the
        report is kept either way. A message that becomes `delivered` or `failed`
        notifies (``message.delivered`` / ``message.failed``) in the same transaction."""
        ...

    async def unmatched_reports(self) -> int: ...

    # inbound ---------------------------------------------------------------
    async def add_inbound(self, part: InboundPart) -> InboundResult:
        """Commit before the caller deletes the message from the modem (invariant 2).
        Idempotent on ``dedupe_key``. A text complete with this part notifies
        ``inbound.received`` in the same transaction. With a :data:`ReplyRule`, the text
        is matched to the newest open message from its sender whose expected replies it
        answers (``in_reply_to``, ``reply_value``), ``reply.matched`` notified, in the
        same transaction. With a :data:`ConsentRule`, the
        opt-out list change it names for that text is made in the same transaction too
        (``consent.opted_out`` / ``consent.opted_in`` notified with it; a crash keeps
        both or neither) and returned in ``consent``."""
        ...

    async def release_inbound(self, dedupe_key: str) -> None:
        """The modem deleted the slot behind this key: the same bytes stored there later
        are a new text, not a re-read."""
        ...

    async def add_undecodable(self, raw: UndecodableInbound) -> str | None:
        """Keep an undecodable PDU sealed, with an ``inbound.undecodable`` event (id and
        length only) in the same transaction; its id, or None for a re-read (as
        :meth:`add_inbound`). Commit before the caller deletes it from the modem."""
        ...

    async def release_incomplete(self, older_than: float) -> list[Inbound]:
        """Texts whose first part is older than the cutoff, released with markers where
        parts are missing; each notifies ``inbound.received`` in the same transaction."""
        ...

    async def get_inbound(self, inbound_id: str, *, owner: str | None = None) -> Inbound | None:
        """``owner``: an API key id, as for :meth:`list_inbound`; a text it may not see is
        None, as a missing one is."""
        ...

    async def list_inbound(
        self,
        *,
        sender: str | None,
        modem: str | None,
        cursor: str | None,
        limit: int,
        owner: str | None = None,
    ) -> Page[Inbound]:
        """Newest first, as :meth:`list_messages`. ``owner``: an API key id; only texts
        from numbers it had sent a message to before they came (the conversations it
        started); None: every text."""
        ...

    async def claim_reply_nudge(self, sender: str, at: float) -> ReplyNudge | None:
        """The newest message awaiting an answer from ``sender`` at ``at`` (sent, in its
        window, unanswered), claimed for its one nudge: committed before returning, so
        it is returned once; None when there is none or it was nudged already."""
        ...

    async def claim_auto_reply(self, conversation_id: str, period_start: float, at: float) -> bool:
        """Whether this conversation may get the auto-reply of the closed period that began
        at ``period_start``: True once, committed before returning, False ever after."""
        ...

    # templates ---------------------------------------------------------------
    async def add_template(self, template: Template) -> None:
        """Raises Conflict when the name is taken."""
        ...

    async def replace_template(self, template: Template) -> Template:
        """The stored one with body, category and replies replaced (``created_at`` kept);
        raises NotFound when there is none of that name."""
        ...

    async def get_template(self, name: str) -> Template | None: ...

    async def list_templates(self) -> list[Template]:
        """Every template, by name."""
        ...

    async def delete_template(self, name: str) -> bool:
        """False when there was none of that name."""
        ...

    async def conversation_modem(self, to_hash: bytes) -> str | None:
        """The modem a patient last wrote to (sticky replies)."""
        ...

    # conversations -------------------------------------------------------------
    async def list_conversations(
        self, *, cursor: str | None, limit: int, owner: str | None = None
    ) -> Page[Conversation]:
        """Newest activity first, each with its open expected reply. ``owner``: an API key
        id; only the conversations it started (sent the number a message)."""
        ...

    async def conversation_thread(
        self, conversation_id: str, *, cursor: str | None, limit: int, owner: str | None = None
    ) -> Thread | None:
        """The newest ``limit`` messages and texts of a conversation, oldest first; None
        when there is none the key may see. ``owner`` as for :meth:`list_conversations`,
        and then only its own messages and the texts :meth:`list_inbound` shows it."""
        ...

    async def mark_conversation_read(
        self, conversation_id: str, *, owner: str | None = None
    ) -> Conversation:
        """Unread back to 0. Raises NotFound (also for a conversation ``owner`` did not
        start)."""
        ...

    def number_hash(self, number: str) -> bytes:
        """The keyed hash numbers are looked up by (stable for the store's life)."""
        ...

    # suppressions (opt-out list) ----------------------------------------------
    async def add_suppression(
        self, number: str, category: str | None, *, source: str, reason: str | None
    ) -> tuple[Suppression, bool]:
        """Put a number on the list (``category`` None: every category); the entry and
        whether it is new. A new one notifies ``consent.opted_out`` in the same
        transaction; an existing (number, category) is returned unchanged."""
        ...

    async def remove_suppression(self, suppression_id: str) -> Suppression:
        """Take one entry off; notifies ``consent.opted_in`` in the same transaction.
        Raises NotFound."""
        ...

    async def suppressions_for(self, number: str) -> list[Suppression]:
        """The entries of one number (by keyed hash), oldest first."""
        ...

    async def suppressed_categories(
        self, number_hashes: Sequence[bytes]
    ) -> dict[bytes, frozenset[str | None]]:
        """For each hash on the list, the categories it is suppressed for (None: all)."""
        ...

    async def list_suppressions(self, *, cursor: str | None, limit: int) -> Page[Suppression]:
        """Newest first, as :meth:`list_messages`."""
        ...

    async def newest_record_at(self) -> float | None:
        """The newest time the store recorded (a message changed, a text received);
        None when empty. How the clock is checked at start (gateway.core.clock_guard)."""
        ...

    def callback_secret(self, key_id: str) -> str:
        """What Twilio status callbacks of API key ``key_id`` are signed with: derived
        from the key ring, stable across key rotation; no token is kept to sign them."""
        ...

    # API keys ----------------------------------------------------------------
    async def create_api_key(
        self,
        name: str,
        scopes: frozenset[Scope],
        limits: KeyLimits | None = None,
        *,
        default_category: str = "care",
    ) -> tuple[ApiKey, str]:
        """Returns the key and its token; only a hash of the token is stored."""
        ...

    async def set_api_key_limits(self, key_id: str, limits: KeyLimits) -> ApiKey:
        """Replace a key's limits; every process honours them at its next request.
        Raises NotFound."""
        ...

    def key_used(self, key_id: str) -> None:
        """Note a successful authentication; written with others at most once a minute
        (and at close), never one write per request."""
        ...

    async def verify_api_key(self, token: str) -> ApiKey | None:
        """The key a token belongs to (revoked ones too: the caller checks), else None."""
        ...

    async def list_api_keys(self) -> list[ApiKey]: ...
    async def revoke_api_key(self, key_id: str) -> ApiKey:
        """Raises NotFound. Revoking twice keeps the first revocation time."""
        ...

    # events ------------------------------------------------------------------
    async def add_event(self, kind: str, modem: str | None, detail: dict[str, Any]) -> None:
        """An operational event, detail sealed. ``modem.up`` and ``modem.down`` of a
        modem notify (same kind, ``detail["reason"]`` passed on) in the same transaction."""
        ...

    async def list_events(self, *, cursor: str | None, limit: int) -> Page[EventLogEntry]:
        """Newest first, as :meth:`list_messages`."""
        ...

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

    # webhooks: subscriptions, outbox, compatibility specs ----------------------
    async def list_subscriptions(self) -> list[SubscriptionRecord]:
        """Every subscription made through the API, by id."""
        ...

    async def add_subscription(self, subscription: SubscriptionRecord) -> None:
        """Store it with its secret sealed. Raises StoreError on a duplicate id."""
        ...

    async def delete_subscription(self, subscription_id: str) -> None:
        """Remove it; its pending outbox rows become dead in the same transaction
        (kept for the record). Deleting an unknown id changes nothing."""
        ...

    async def due_deliveries(
        self, now: float, limit: int
    ) -> tuple[list[DueDelivery], float | None]:
        """Pending rows due by ``now`` that head their (receiver, order key) line, oldest
        first, and the earliest time any pending row is due (None: none pending)."""
        ...

    async def record_attempt(
        self, delivery_id: str, attempt: Attempt, *, state: str, next_at: float | None
    ) -> None:
        """One attempt's outcome: the row becomes ``state`` (pending again at ``next_at``)."""
        ...

    async def list_deliveries(
        self, subscriber: str, *, state: str | None, cursor: str | None, limit: int
    ) -> Page[Delivery]:
        """A receiver's rows, newest first, each with its attempts (never the payload)."""
        ...

    async def redeliver(
        self, subscriber: str, *, delivery_id: str | None = None, since: float | None = None
    ) -> int:
        """A receiver's dead rows sent again: the one named, those created at or after
        ``since``, or all. Each is pending at once with a fresh count of attempts (its
        earlier attempts stay listed); returns how many. Wakes the dispatcher."""
        ...

    async def delivery_counts(self) -> dict[str, int]:
        """Outbox rows by state (every state in :data:`DELIVERY_STATES`, 0 when none)."""
        ...

    async def purge_deliveries(self, older_than: float) -> int:
        """Delivered and dead rows older than the cutoff with their attempts, and the
        compatibility specs saved before it; returns outbox rows deleted."""
        ...

    async def save_compat_spec(self, kind: str, spec: dict[str, Any]) -> str:
        """Keep (sealed) what later callbacks of a message sent through a compatibility
        endpoint need; returns the reference its metadata carries. The fan-out reads
        it back through ``spec`` when the message changes."""
        ...

    # housekeeping ------------------------------------------------------------
    async def stats(self) -> dict[str, int]:
        """Counts by message state, queued by priority, store size in bytes."""
        ...

    async def rotate_key(
        self, *, batch: int = 500, on_batch: Callable[[int, int], None] | None = None
    ) -> int:
        """Re-encrypt every value sealed with an older key id, ``batch`` values per
        transaction, until a pass finds none; returns values rewritten.
        ``on_batch(rewritten, total)`` follows progress."""
        ...

    async def stale_values(self) -> dict[str, int]:
        """Values not sealed with the current key, by ``table.column`` (empty: none)."""
        ...

    async def purge(self, older_than: float) -> int:
        """Retention: delete final messages and inbound older than the cutoff (with
        their reports, events and parts); returns messages + inbound deleted."""
        ...

    # secure messages -------------------------------------------------------------
    async def add_secure_message(self, new: NewSecureMessage) -> SecureMessage:
        """Store it, content sealed; the SMS carrying its link is linked afterwards."""
        ...

    async def link_secure_message(self, secure_id: str, message_id: str) -> None:
        """Name the SMS that carries the link."""
        ...

    async def drop_secure_message(self, secure_id: str) -> None:
        """Delete one whose SMS was refused: nothing of it is kept."""
        ...

    async def find_secure_message(self, token_hash: bytes) -> SecureMessage | None:
        """By the keyed hash of its link's token."""
        ...

    async def get_secure_message(
        self, secure_id: str, *, owner: str | None = None
    ) -> SecureMessage | None:
        """``owner``: an API key id; another key's message is None, as a missing one is."""
        ...

    async def secure_opened(self, secure_id: str, at: float) -> None:
        """The link was opened (the first time is kept)."""
        ...

    async def set_secure_code(self, secure_id: str, code_hash: bytes, expires_at: float) -> None:
        """A new one-time code (its keyed hash) replaces any earlier one."""
        ...

    async def verify_secure(
        self, secure_id: str, answer_hash: bytes, at: float, max_failures: int
    ) -> VerifyOutcome:
        """Compare the keyed hash of an answer (date of birth, or a code still valid, which
        it consumes); a failure is counted and the one reaching ``max_failures`` locks the
        message, notifying ``secure.locked`` in the same transaction."""
        ...

    async def read_secure(self, secure_id: str, at: float) -> SecureContent | None:
        """The content (None once erased); the first read notifies ``secure.read``."""
        ...

    async def secure_attachment(self, secure_id: str, seq: int) -> SecureAttachment | None: ...

    async def answer_secure(self, secure_id: str, part: InboundPart) -> InboundResult:
        """The patient's answer stored as an inbound text (as :meth:`add_inbound`), the
        message marked answered and ``secure.answered`` notified, in one transaction."""
        ...

    async def revoke_secure(self, secure_id: str, *, owner: str | None = None) -> SecureMessage:
        """Revoked and its content erased; revoking twice keeps the first time. NotFound."""
        ...

    async def erase_secure(self, now: float, *, created_before: float | None = None) -> int:
        """Erase the content of messages expired by ``now`` (and, with ``created_before``,
        of those made before it); records stay. Returns how many were erased."""
        ...

    @property
    def broadcasts(self) -> BroadcastStore:
        """Broadcasts and their recipients (see :class:`BroadcastStore`)."""
        ...


# Broadcasts ----------------------------------------------------------------------------


class BroadcastState(enum.StrEnum):
    """As stored; ``done`` and ``scheduled`` are read from a running one's counts and time."""

    INTAKE = "intake"  # recipients still arriving: answered by nobody, dropped at restart
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class RecipientState(enum.StrEnum):
    PENDING = "pending"  # not expanded yet
    MESSAGE = "message"  # expanded: its message's state is the recipient's
    INVALID = "invalid"  # a bad row (error_code says why)
    DUPLICATE = "duplicate"  # the number of an earlier row
    CANCELLED = "cancelled"  # the broadcast was cancelled before its expansion


@dataclass(frozen=True, slots=True)
class Broadcast:
    """One text to many patients; name, body and replies are sealed at rest."""

    id: str
    name: str
    body: str  # the template's body as it was at creation, or the plain text
    template: str | None
    columns: tuple[str, ...]  # the variables each row gives, in the export's order
    category: str
    replies: ExpectedReplies | None
    send_at: float | None
    api_key_id: str | None
    state: BroadcastState
    total: int
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class NewRecipient:
    seq: int  # 1-based row of the upload
    to: str  # as given (sealed at rest); shown in the export
    number: str | None  # E.164; None when the row is invalid
    variables: Mapping[str, str]
    error_code: str | None = None  # set: the row is invalid


@dataclass(frozen=True, slots=True)
class PendingRecipient:
    seq: int
    number: str  # E.164
    variables: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Expansion:
    """What one pending row became: a message, or an invalid row (``error_code``)."""

    seq: int
    message: NewMessage | None
    error_code: str | None = None
    # The number opted out of the category: (error code, text); kept, final at once.
    suppressed: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class BroadcastCounts:
    """Rows by where they stand, from aggregates over the rows and their messages."""

    total: int
    pending: int  # not expanded yet
    queued: int  # messages queued or being sent
    sent: int
    delivered: int
    failed: int  # failed, expired or unknown
    suppressed: int
    invalid: int
    duplicate: int
    cancelled: int
    replied: int


@dataclass(frozen=True, slots=True)
class RecipientRow:
    seq: int
    to: str
    variables: Mapping[str, str]
    state: str  # a RecipientState, or its message's state once expanded
    message_id: str | None
    error_code: str | None
    reply: str | None  # the meaning the patient's answer matched


class BroadcastStore(Protocol):
    async def create(self, broadcast: Broadcast) -> None:
        """Stored in state ``intake``, invisible until ``open``."""
        ...

    async def add_recipients(self, broadcast_id: str, rows: Sequence[NewRecipient]) -> int:
        """One transaction; a row whose number an earlier row has is kept ``duplicate``.
        Returns rows stored invalid or duplicate."""
        ...

    async def open(self, broadcast_id: str, *, total: int, actor: str, action: str) -> None:
        """Intake finished: ``running``, audited in the same transaction."""
        ...

    async def drop(self, broadcast_id: str) -> None:
        """A refused intake, with its rows."""
        ...

    async def drop_unopened(self) -> int:
        """Intakes a crash cut short (never answered); returns how many."""
        ...

    async def get(self, broadcast_id: str, *, owner: str | None = None) -> Broadcast | None: ...

    async def page(self, *, owner: str | None, cursor: str | None, limit: int) -> Page[Broadcast]:
        """Newest first."""
        ...

    async def counts(self, broadcast_id: str) -> BroadcastCounts: ...

    async def expandable(self) -> list[str]:
        """Running broadcasts with rows not expanded yet, oldest first."""
        ...

    async def pending(self, broadcast_id: str, limit: int) -> list[PendingRecipient]:
        """The first rows not expanded yet, in order."""
        ...

    async def expand(
        self, broadcast_id: str, rows: Sequence[Expansion], *, actor: str, action: str
    ) -> list[AddResult] | None:
        """The messages added and each row marked with its own, in one transaction (and
        audited in it); None, with nothing written, when the broadcast is no longer
        running."""
        ...

    async def set_state(
        self,
        broadcast_id: str,
        state: BroadcastState,
        *,
        owner: str | None,
        actor: str,
        action: str,
    ) -> Broadcast:
        """Pause, resume or cancel (audited with it); a cancel marks the rows not expanded
        yet cancelled. NotFound for another owner's; Conflict when the change is not allowed."""
        ...

    async def queued_messages(self, broadcast_id: str) -> list[QueueItem]:
        """Its queued messages, as the scheduler takes them."""
        ...

    async def cancel_queued(self, broadcast_id: str, limit: int) -> list[str]:
        """Up to ``limit`` of its queued messages cancelled, by the one cancel path of
        messages (notified); returns their ids (empty: none left)."""
        ...

    async def held(self) -> frozenset[str]:
        """Queued messages of paused broadcasts: not for the scheduler until resumed."""
        ...

    async def paused(self) -> frozenset[str]:
        """The ids of paused broadcasts (few: the dispatcher holds their messages back)."""
        ...

    async def recipients(self, broadcast_id: str, *, after: int, limit: int) -> list[RecipientRow]:
        """Rows in order from ``after`` (a row number, exclusive)."""
        ...
