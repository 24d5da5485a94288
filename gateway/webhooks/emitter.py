"""Where events come from: a store that writes an outbox row after each state change.

:class:`EventedStore` is the daemon's store with the six event kinds added: it
passes every call through and, when a call changed a message's state, stored an
inbound text or recorded a modem going up or down, writes the matching outbox
rows (one per receiver, payload sealed) as a group-committed write of its own,
then wakes the dispatcher. The send path waits for that write, never for a
delivery.

Messages sent through a compatibility endpoint carry ``compat_ref`` in their
metadata; the callback builder registered for their ``compat`` kind turns the
event into a status callback or a delivery report for the URL they gave.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from gateway.config import EventKind
from gateway.ids import new_id
from gateway.store.base import (
    AddResult,
    ApiKey,
    AuditEntry,
    Inbound,
    InboundPart,
    InboundResult,
    Message,
    MessageFilter,
    MessageState,
    NewMessage,
    Page,
    QueueItem,
    RecoveryReport,
    ReportResult,
    Scope,
    Store,
)
from gateway.store.base import Event as StoreEvent
from gateway.store.sealing import aad, dump_json
from gateway.webhooks import outbox
from gateway.webhooks.events import (
    MESSAGE_KINDS,
    Event,
    envelope,
    inbound_event,
    message_event,
    modem_event,
)
from gateway.webhooks.outbox import NewRow, StoreAccess
from gateway.webhooks.subscriptions import Registry, Subscription

log = logging.getLogger(__name__)

COMPAT_KIND: Final = "compat"
COMPAT_REF: Final = "compat_ref"
MODEM_KINDS: Final = {"modem.up": EventKind.MODEM_UP, "modem.down": EventKind.MODEM_DOWN}

# (event, subscription) -> payload bytes, for a subscription format other than smsgw
Formatter = Callable[[Event, Subscription], bytes | None]
# (event, stored spec) -> [(receiver, payload)], for a compat kind
CallbackBuilder = Callable[[Event, dict[str, Any]], list[tuple[str, bytes]]]


def compat_aad(ref: str) -> bytes:
    return aad("compat_messages", "spec", ref)


async def save_compat_spec(access: StoreAccess, kind: str, spec: dict[str, Any]) -> str:
    """Keep what later callbacks of a message need; returns the ref for its metadata."""
    ref = new_id("cmp")
    sealed = access.keyring.seal(dump_json(spec), aad=compat_aad(ref))
    now = time.time()

    def insert(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO compat_messages (ref, kind, spec_enc, created_at) VALUES (?, ?, ?, ?)",
            (ref, kind, sealed, now),
        )

    await access.run_write(insert)
    return ref


async def load_compat_spec(access: StoreAccess, ref: str) -> dict[str, Any] | None:
    row = await access.run_read(
        lambda conn: conn.execute(
            "SELECT spec_enc FROM compat_messages WHERE ref = ?", (ref,)
        ).fetchone()
    )
    if row is None:
        return None
    spec: dict[str, Any] = json.loads(access.keyring.open(row[0], aad=compat_aad(ref)))
    return spec


class Emitter:
    """Turns events into outbox rows for every receiver that wants them."""

    def __init__(
        self,
        access: StoreAccess,
        registry: Registry,
        notify: Callable[[], None],
        *,
        formatters: Mapping[str, Formatter] | None = None,
        callbacks: Mapping[str, CallbackBuilder] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._access = access
        self._registry = registry
        self._notify = notify
        self.formatters: dict[str, Formatter] = dict(formatters or {})
        self.callbacks: dict[str, CallbackBuilder] = dict(callbacks or {})
        self._clock = clock

    async def emit(self, event: Event) -> None:
        keyring = self._access.keyring
        payloads: list[tuple[str, bytes]] = []
        for sub in self._registry.for_kind(event.kind):
            if sub.format == "smsgw":
                payloads.append((sub.id, b""))  # the envelope needs the row id: built below
                continue
            formatter = self.formatters.get(sub.format)
            body = formatter(event, sub) if formatter is not None else None
            if body is not None:
                payloads.append((sub.id, body))
        payloads.extend(await self._callbacks(event))
        if not payloads:
            return
        now = self._clock()
        rows = []
        for receiver, body in payloads:
            row_id = new_id("whd")
            if not body:
                body = dump_json(envelope(row_id, event))
            rows.append(
                NewRow(
                    id=row_id,
                    created_at=now,
                    subscriber=receiver,
                    kind=event.kind.value,
                    payload_enc=keyring.seal(body, aad=outbox.payload_aad(row_id)),
                    order_key=event.order_key,
                    source=event.source,
                )
            )
        await self._access.run_write(lambda conn: outbox.insert(conn, rows))
        self._notify()

    async def _callbacks(self, event: Event) -> list[tuple[str, bytes]]:
        message = event.message
        if message is None or not self.callbacks:
            return []
        kind, ref = message.metadata.get(COMPAT_KIND), message.metadata.get(COMPAT_REF)
        builder = self.callbacks.get(kind) if isinstance(kind, str) else None
        if builder is None or not isinstance(ref, str):
            return []
        spec = await load_compat_spec(self._access, ref)
        return builder(event, spec) if spec is not None else []


class EventedStore:
    """The store, emitting webhook events after the calls that cause them.

    A failure to write an event is logged and does not fail the call: the state
    change it follows is committed already, and the caller (the send path, the
    modem's event consumer) must carry on."""

    def __init__(self, inner: Store, emitter: Emitter, *, clock: Callable[[], float] = time.time):
        self.inner = inner
        self.emitter = emitter
        self._clock = clock

    async def _emit(self, make: Callable[[], Any]) -> None:
        try:
            event = await make()
            if event is not None:
                await self.emitter.emit(event)
        except Exception:
            log.exception("could not enqueue a webhook event")

    async def _message_changed(self, message_id: str, state: MessageState | None) -> None:
        kind = MESSAGE_KINDS.get(state) if state is not None else None
        if kind is None:
            return

        async def make() -> Event | None:
            message = await self.inner.get_message(message_id)
            if message is None or message.state is not state:
                return None
            number_hash = self.inner.number_hash(message.to)
            return message_event(kind, message, number_hash, self._clock())

        await self._emit(make)

    async def _inbound(self, inbound: Inbound) -> None:
        async def make() -> Event:
            return inbound_event(inbound, self.inner.number_hash(inbound.sender), self._clock())

        await self._emit(make)

    # pass-through with events -------------------------------------------------------

    async def segment_sent(
        self, message_id: str, seq: int, modem: str, reference: int, at: float
    ) -> MessageState:
        state = await self.inner.segment_sent(message_id, seq, modem, reference, at)
        await self._message_changed(message_id, state)
        return state

    async def apply_report(
        self, modem: str, reference: int, recipient: str, status: int, at: float
    ) -> ReportResult:
        result = await self.inner.apply_report(modem, reference, recipient, status, at)
        if result.message_id is not None:
            await self._message_changed(result.message_id, result.message_state)
        return result

    async def finish(
        self,
        message_id: str,
        state: MessageState,
        *,
        error_code: str | None,
        error_text: str | None,
    ) -> None:
        await self.inner.finish(message_id, state, error_code=error_code, error_text=error_text)
        await self._message_changed(message_id, state)

    async def add_inbound(self, part: InboundPart) -> InboundResult:
        result = await self.inner.add_inbound(part)
        if result.inbound is not None:
            await self._inbound(result.inbound)
        return result

    async def release_incomplete(self, older_than: float) -> list[Inbound]:
        released = await self.inner.release_incomplete(older_than)
        for inbound in released:
            await self._inbound(inbound)
        return released

    async def add_event(self, kind: str, modem: str | None, detail: dict[str, Any]) -> None:
        await self.inner.add_event(kind, modem, detail)
        event_kind = MODEM_KINDS.get(kind)
        if event_kind is not None and modem is not None:
            reason = detail.get("reason")

            async def make() -> Event:
                text = reason if isinstance(reason, str) else None
                return modem_event(event_kind, modem, text, self._clock())

            await self._emit(make)

    # plain pass-through ---------------------------------------------------------------

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def add_messages(self, messages: Sequence[NewMessage]) -> list[AddResult]:
        return await self.inner.add_messages(messages)

    async def get_message(self, message_id: str) -> Message | None:
        return await self.inner.get_message(message_id)

    async def list_messages(
        self, flt: MessageFilter, *, cursor: str | None, limit: int
    ) -> Page[Message]:
        return await self.inner.list_messages(flt, cursor=cursor, limit=limit)

    async def cancel_message(self, message_id: str) -> Message:
        return await self.inner.cancel_message(message_id)

    async def recover(self, *, resend_unknown: bool) -> RecoveryReport:
        return await self.inner.recover(resend_unknown=resend_unknown)

    async def queued(self) -> list[QueueItem]:
        return await self.inner.queued()

    async def segment_sending(self, message_id: str, seq: int, modem: str) -> None:
        await self.inner.segment_sending(message_id, seq, modem)

    async def segment_unknown(self, message_id: str, seq: int, modem: str, error: str) -> None:
        await self.inner.segment_unknown(message_id, seq, modem, error)

    async def requeue(
        self,
        message_id: str,
        *,
        send_at: float,
        error_code: str,
        error_text: str,
        count_attempt: bool = True,
    ) -> None:
        await self.inner.requeue(
            message_id,
            send_at=send_at,
            error_code=error_code,
            error_text=error_text,
            count_attempt=count_attempt,
        )

    async def unmatched_reports(self) -> int:
        return await self.inner.unmatched_reports()

    async def get_inbound(self, inbound_id: str) -> Inbound | None:
        return await self.inner.get_inbound(inbound_id)

    async def list_inbound(
        self, *, sender: str | None, modem: str | None, cursor: str | None, limit: int
    ) -> Page[Inbound]:
        return await self.inner.list_inbound(sender=sender, modem=modem, cursor=cursor, limit=limit)

    async def conversation_modem(self, to_hash: bytes) -> str | None:
        return await self.inner.conversation_modem(to_hash)

    def number_hash(self, number: str) -> bytes:
        return self.inner.number_hash(number)

    async def create_api_key(self, name: str, scopes: frozenset[Scope]) -> tuple[ApiKey, str]:
        return await self.inner.create_api_key(name, scopes)

    async def verify_api_key(self, token: str) -> ApiKey | None:
        return await self.inner.verify_api_key(token)

    async def list_api_keys(self) -> list[ApiKey]:
        return await self.inner.list_api_keys()

    async def revoke_api_key(self, key_id: str) -> ApiKey:
        return await self.inner.revoke_api_key(key_id)

    async def list_events(self, *, cursor: str | None, limit: int) -> Page[StoreEvent]:
        return await self.inner.list_events(cursor=cursor, limit=limit)

    async def audit(
        self, actor: str, action: str, detail: dict[str, Any], *, subject: str | None = None
    ) -> None:
        await self.inner.audit(actor, action, detail, subject=subject)

    async def list_audit(self, *, cursor: str | None, limit: int) -> Page[AuditEntry]:
        return await self.inner.list_audit(cursor=cursor, limit=limit)

    async def verify_audit(self) -> int:
        return await self.inner.verify_audit()

    async def stats(self) -> dict[str, int]:
        return await self.inner.stats()

    async def rotate_key(self, *, batch: int = 500) -> int:
        return await self.inner.rotate_key(batch=batch)

    async def purge(self, older_than: float) -> int:
        return await self.inner.purge(older_than)
