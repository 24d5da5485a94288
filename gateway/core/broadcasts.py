"""Broadcasts: one text (a template or a body) to many patients, expanded in the background.

Intake checks every row as a send of it would be checked (number, variables, length)
and stores the rows in chunks, so a 50,000-row upload is answered in seconds with
memory that does not grow with it; nothing is sent yet. The expansion task then turns
rows into ``bulk`` messages a chunk at a time, each chunk one short write transaction
(rows marked with their messages in it, so a restart resumes where it stopped), and
hands them to the queue. Messages then go the way of any other: the opt-out gate,
quiet hours, priority order.

Pause, resume and cancel take the same lock as a chunk, so a chunk is never queued
after its broadcast was paused. A paused broadcast's message that comes back to the
queue anyway (retried after a failed send, taken just before the pause, handed back by
a modem leaving rotation) is stopped by the dispatcher before its first segment: it asks
:meth:`Broadcasts.holds`, which knows the paused broadcasts in memory, and the message
waits aside until the resume (or the cancel) hands it back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Protocol

from gateway.core.replies import DEFAULT_REPLY_WINDOW, check_replies
from gateway.core.service import SendRequest
from gateway.core.templates import ParsedTemplate, parse_template, render
from gateway.errors import GatewayError, ValidationError
from gateway.ids import new_id
from gateway.store.base import (
    AddResult,
    ApiKey,
    Broadcast,
    BroadcastCounts,
    BroadcastState,
    BroadcastStore,
    Expansion,
    ExpectedReplies,
    Message,
    NewMessage,
    NewRecipient,
    Priority,
    QueueItem,
)

log = logging.getLogger(__name__)

INTAKE_CHUNK: Final = 1000  # rows per write at intake
EXPAND_CHUNK: Final = 500  # messages per expansion transaction: some ms of the writer
MAX_RECIPIENTS: Final = 100_000
YIELD_EVERY: Final = 100  # rows checked between two turns of the event loop
STRICT_ROWS_NAMED: Final = 20  # bad rows named in a strict refusal
BROADCAST_KEY: Final = "broadcast_id"  # in each message's metadata, for webhooks

# The audit trail's actions (ids only, never a number or a text).
CREATE_ACTION: Final = "broadcast.create"
PAUSE_ACTION: Final = "broadcast.pause"
RESUME_ACTION: Final = "broadcast.resume"
CANCEL_ACTION: Final = "broadcast.cancel"
SEND_ACTION: Final = "message.send"  # each chunk's messages, as any send is audited
INTERNAL_ACTOR: Final = "gateway"

DONE: Final = "done"
SCHEDULED: Final = "scheduled"


class BroadcastQueue(Protocol):
    """The dispatcher's side: what is queued, and what leaves the queue."""

    async def enqueue_many(self, items: Sequence[QueueItem]) -> None: ...

    def cancel(self, message_id: str) -> None: ...


# One request checked and filled by the submission rules (number, text, segments).
Prepare = Callable[[SendRequest], NewMessage]
# Whether each message's number opted out of its category.
Blocked = Callable[[Sequence[NewMessage]], Awaitable[list[bool]]]


@dataclass(frozen=True, slots=True)
class BroadcastPlan:
    """A broadcast's request once its shape is checked (the rows come separately)."""

    name: str
    body: str  # a template's body (``template`` set) or a plain text
    template: str | None
    category: str
    replies: Mapping[str, str] | None = None
    reply_window: float | None = None
    send_at: float | None = None
    strict: bool = False


@dataclass(frozen=True, slots=True)
class RowInput:
    seq: int  # 1-based
    to: str
    variables: Mapping[str, str]
    error_code: str | None = None  # the row could not even be read (a JSON item's shape)


@dataclass(frozen=True, slots=True)
class Status:
    broadcast: Broadcast
    state: str  # the stored state, or done / scheduled for a running one
    counts: BroadcastCounts


class Broadcasts:
    def __init__(
        self,
        store: Callable[[], BroadcastStore],
        *,
        prepare: Prepare,
        blocked: Blocked,
        queue: Callable[[], BroadcastQueue | None],
        categories: frozenset[str],
        opted_out: tuple[str, str],
        clock: Callable[[], float] = time.time,
        expand_chunk: int = EXPAND_CHUNK,
    ) -> None:
        self._store = store
        self._prepare = prepare
        self._blocked = blocked
        self._queue = queue
        self._categories = categories
        self._opted_out = opted_out
        self._clock = clock
        self._chunk = expand_chunk
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        # Paused broadcasts, each with its messages the dispatcher held back meanwhile.
        self._paused: dict[str, dict[str, QueueItem]] = {}

    # intake ------------------------------------------------------------------

    async def create(
        self, plan: BroadcastPlan, rows: AsyncIterator[RowInput], key: ApiKey
    ) -> Broadcast:
        """Every row stored, checked, before the answer; nothing is sent until it is.
        ``strict``: a bad row refuses the whole upload (ValidationError naming rows)."""
        parsed = self._check_plan(plan)
        store = self._store()
        replies = (
            None
            if plan.replies is None
            else ExpectedReplies(
                dict(plan.replies),
                DEFAULT_REPLY_WINDOW if plan.reply_window is None else plan.reply_window,
            )
        )
        now = self._clock()
        broadcast = Broadcast(
            id=new_id("bc"),
            name=plan.name,
            body=plan.body,
            template=plan.template,
            columns=parsed.variables,
            category=plan.category,
            replies=replies,
            send_at=plan.send_at,
            api_key_id=key.id,
            state=BroadcastState.INTAKE,
            total=0,
            created_at=now,
            updated_at=now,
        )
        await store.create(broadcast)
        try:
            total, refused, bad = await self._intake(store, broadcast.id, plan, parsed, rows)
        except BaseException:
            await store.drop(broadcast.id)
            raise
        if plan.strict and refused:
            await store.drop(broadcast.id)
            named = ", ".join(f"{seq} ({code})" for seq, code in bad[:STRICT_ROWS_NAMED])
            more = " and more" if refused > len(bad) else ""
            raise ValidationError(
                f"strict: {refused} row(s) refused, nothing stored: rows {named}{more}",
                field="recipients",
            )
        await store.open(broadcast.id, total=total, actor=key.id, action=CREATE_ACTION)
        self._wake.set()
        return replace(broadcast, state=BroadcastState.RUNNING, total=total)

    def _check_plan(self, plan: BroadcastPlan) -> ParsedTemplate:
        if plan.category not in self._categories:
            known = ", ".join(sorted(self._categories))
            raise ValidationError(
                f"category {plan.category!r} is not configured (known: {known})", field="category"
            )
        if plan.replies is not None:
            check_replies(plan.replies, "replies")
        if plan.template is None:
            return ParsedTemplate((plan.body,))
        return parse_template(plan.body, "template")

    async def _intake(
        self,
        store: BroadcastStore,
        broadcast_id: str,
        plan: BroadcastPlan,
        parsed: ParsedTemplate,
        rows: AsyncIterator[RowInput],
    ) -> tuple[int, int, list[tuple[int, str]]]:
        total = refused = 0
        bad: list[tuple[int, str]] = []  # the first rows refused (strict names them)
        chunk: list[NewRecipient] = []
        async for row in rows:
            total += 1
            if total > MAX_RECIPIENTS:
                raise ValidationError(
                    f"a broadcast holds at most {MAX_RECIPIENTS} recipients", field="recipients"
                )
            if total % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # a row is checked on the loop: let sends through
            checked = self._check_row(plan, parsed, row)
            if checked.error_code is not None:
                refused += 1
                if len(bad) < STRICT_ROWS_NAMED:
                    bad.append((row.seq, checked.error_code))
            chunk.append(checked)
            if len(chunk) >= INTAKE_CHUNK:
                await store.add_recipients(broadcast_id, chunk)
                chunk = []
        if chunk:
            await store.add_recipients(broadcast_id, chunk)
        if total == 0:
            raise ValidationError("a broadcast needs at least one recipient", field="recipients")
        return total, refused, bad

    def _check_row(
        self, plan: BroadcastPlan, parsed: ParsedTemplate, row: RowInput
    ) -> NewRecipient:
        if row.error_code is not None:
            return NewRecipient(row.seq, row.to, None, row.variables, row.error_code)
        try:
            new = self._message(plan, parsed, row.to, row.variables, "")
        except GatewayError as exc:
            return NewRecipient(row.seq, row.to, None, row.variables, exc.code)
        return NewRecipient(row.seq, row.to, new.to, row.variables)

    def _message(
        self,
        plan: BroadcastPlan,
        parsed: ParsedTemplate,
        to: str,
        variables: Mapping[str, str],
        broadcast_id: str,
    ) -> NewMessage:
        request = SendRequest(
            to=to,
            body=render(parsed, variables),
            priority=Priority.BULK,
            send_at=plan.send_at,
            metadata={BROADCAST_KEY: broadcast_id} if broadcast_id else {},
            category=plan.category,
            replies=plan.replies,
            reply_window=plan.reply_window,
        )
        return self._prepare(request)

    # holding -----------------------------------------------------------------

    async def load_paused(self) -> None:
        """At start, before the queue is served: which broadcasts are paused."""
        for broadcast_id in await self._store().paused():
            self._paused.setdefault(broadcast_id, {})

    def holds(self, item: QueueItem, message: Message) -> bool:
        """Whether a message taken from the queue belongs to a paused broadcast (asked by
        the dispatcher before a first segment, with no store read); if so it waits aside
        here until the resume or the cancel hands it back."""
        broadcast_id = message.metadata.get(BROADCAST_KEY)
        aside = self._paused.get(broadcast_id) if isinstance(broadcast_id, str) else None
        if aside is None:
            return False
        aside[item.id] = item
        return True

    # expansion ---------------------------------------------------------------

    async def run(self) -> None:
        """The expansion task: running broadcasts' rows into messages, until cancelled."""
        dropped = await self._store().drop_unopened()
        if dropped:
            log.warning("dropped %d broadcast intake(s) a stop cut short", dropped)
        while True:
            self._wake.clear()
            found = await self._store().expandable()
            for broadcast_id in found:
                while await self.expand_chunk(broadcast_id):  # each awaits the writer
                    continue
            if not found:
                await self._wake.wait()

    async def expand_chunk(self, broadcast_id: str) -> bool:
        """One chunk of rows into messages, queued; False when there is nothing to do."""
        async with self._lock:
            store = self._store()
            broadcast = await store.get(broadcast_id)
            if broadcast is None or broadcast.state is not BroadcastState.RUNNING:
                return False
            pending = await store.pending(broadcast_id, self._chunk)
            if not pending:
                return False
            plan = _plan_of(broadcast)
            parsed = self._check_plan(plan)
            rows: list[Expansion] = []
            for index, row in enumerate(pending, 1):
                if index % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # as at intake
                try:
                    new = self._message(plan, parsed, row.number, row.variables, broadcast_id)
                except GatewayError as exc:  # a row that passed intake: only if rules changed
                    rows.append(Expansion(row.seq, None, exc.code))
                    continue
                rows.append(Expansion(row.seq, replace(new, api_key_id=broadcast.api_key_id)))
            made = [r.message for r in rows if r.message is not None]
            blocked = iter(await self._blocked(made))
            rows = [
                replace(r, suppressed=self._opted_out)
                if r.message is not None and next(blocked)
                else r
                for r in rows
            ]
            actor = broadcast.api_key_id or INTERNAL_ACTOR
            try:
                results = await store.expand(broadcast_id, rows, actor=actor, action=SEND_ACTION)
            except GatewayError as exc:
                log.error(
                    "broadcast %s paused: its messages cannot be added (%s)", broadcast_id, exc.code
                )
                await store.set_state(
                    broadcast_id,
                    BroadcastState.PAUSED,
                    owner=None,
                    actor=INTERNAL_ACTOR,
                    action=PAUSE_ACTION,
                )
                self._paused.setdefault(broadcast_id, {})
                return False
            if results is None:
                return False
            queue = self._queue()
            if queue is not None:
                await queue.enqueue_many([_queue_item(r) for r in results])
            return True

    # control -----------------------------------------------------------------

    async def status(self, broadcast_id: str, *, owner: str | None) -> Status | None:
        store = self._store()
        broadcast = await store.get(broadcast_id, owner=owner)
        if broadcast is None:
            return None
        counts = await store.counts(broadcast_id)
        return Status(broadcast, self.shown_state(broadcast, counts), counts)

    def shown_state(self, broadcast: Broadcast, counts: BroadcastCounts) -> str:
        if broadcast.state is not BroadcastState.RUNNING:
            return broadcast.state.value
        if counts.pending == 0 and counts.queued == 0:
            return DONE
        if broadcast.send_at is not None and broadcast.send_at > self._clock():
            return SCHEDULED
        return broadcast.state.value

    async def pause(self, broadcast_id: str, *, owner: str | None, actor: str) -> None:
        """Expansion stops and its queued messages leave the queue (kept queued in the
        store, where a restart leaves them too while the broadcast is paused); one that
        comes back to the queue meanwhile is held by :meth:`holds`."""
        async with self._lock:
            store = self._store()
            await store.set_state(
                broadcast_id, BroadcastState.PAUSED, owner=owner, actor=actor, action=PAUSE_ACTION
            )
            self._paused.setdefault(broadcast_id, {})  # from now on, before the reads below
            queue = self._queue()
            if queue is not None:
                for item in await store.queued_messages(broadcast_id):
                    queue.cancel(item.id)

    async def resume(self, broadcast_id: str, *, owner: str | None, actor: str) -> None:
        async with self._lock:
            store = self._store()
            await store.set_state(
                broadcast_id, BroadcastState.RUNNING, owner=owner, actor=actor, action=RESUME_ACTION
            )
            aside = self._paused.pop(broadcast_id, {})
            queue = self._queue()
            if queue is not None:
                queued = await store.queued_messages(broadcast_id)
                known = {item.id for item in queued}
                # Held aside and not among them: a message naming the broadcast in its own
                # metadata, which must not wait for ever.
                queued += [item for item in aside.values() if item.id not in known]
                await queue.enqueue_many(queued)
        self._wake.set()

    async def cancel(self, broadcast_id: str, *, owner: str | None, actor: str) -> None:
        """Rows not expanded are dropped, queued messages cancelled (a modem already on
        one finishes it)."""
        async with self._lock:
            store = self._store()
            await store.set_state(
                broadcast_id,
                BroadcastState.CANCELLED,
                owner=owner,
                actor=actor,
                action=CANCEL_ACTION,
            )
            aside = self._paused.pop(broadcast_id, {})
            queue = self._queue()
            while True:
                cancelled = await store.cancel_queued(broadcast_id, self._chunk)
                if not cancelled:
                    break
                for message_id in cancelled:
                    aside.pop(message_id, None)
                    if queue is not None:
                        queue.cancel(message_id)
            if queue is not None and aside:
                await queue.enqueue_many(list(aside.values()))  # not the broadcast's after all


def _plan_of(broadcast: Broadcast) -> BroadcastPlan:
    replies = broadcast.replies
    return BroadcastPlan(
        name=broadcast.name,
        body=broadcast.body,
        template=broadcast.template,
        category=broadcast.category,
        replies=None if replies is None else replies.replies,
        reply_window=None if replies is None else replies.window,
        send_at=broadcast.send_at,
    )


def _queue_item(result: AddResult) -> QueueItem:
    message = result.message
    assert result.to_hash is not None  # the store made it while adding
    return QueueItem(
        id=message.id,
        priority=message.priority,
        send_at=message.send_at,
        expires_at=message.expires_at,
        route=message.route,
        to_hash=result.to_hash,
        attempts=message.attempts,
        category=message.category,
    )
