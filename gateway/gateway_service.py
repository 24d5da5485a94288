"""What the HTTP API, the status page and the technician routes call on the running gateway.

``Gateway`` implements ``gateway.core.service.GatewayService`` and the status page's and
technician routes' protocols. It holds no lifecycle of its own: the composition root
(gateway.daemon) hands it the store, the dispatcher and the fleet, and opens it for
work last and closes it first.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final

from drivers import pdu as pdu_codec
from gateway.config import ApiSettings
from gateway.consent.gate import CONFIRMATION_KEY, OPTED_OUT, OPTED_OUT_TEXT, SendGate
from gateway.consent.keywords import ConsentKeyword
from gateway.core.clock_guard import ClockGuard
from gateway.core.estimate import estimate
from gateway.core.service import ModemStatus, SendRequest
from gateway.core.submission import ConcatReferences, SubmissionRules, prepare_message
from gateway.core.waiting import Waiting
from gateway.errors import OptedOut, Unavailable, ValidationError
from gateway.fleet import passthrough
from gateway.fleet.availability import modem_waiting
from gateway.fleet.dispatch import Dispatcher
from gateway.fleet.fleet import Fleet
from gateway.metrics import Metrics
from gateway.store.base import (
    AddResult,
    ApiKey,
    Message,
    MessageState,
    NewMessage,
    Priority,
    QueueItem,
    Store,
)

CONFIRMATION_TAG = "consent"  # confirmations of STOP/START/HELP, for staff to filter on

# The audit trail's actions for messages (ids only: the trail never holds a text or number).
SEND_ACTION: Final = "message.send"
CANCEL_ACTION: Final = "message.cancel"
CLOCK_CONFIRM_ACTION: Final = "clock.confirm"
INTERNAL_ACTOR: Final = "gateway"  # a send no API key asked for (the daemon's own)


class Gateway:
    def __init__(
        self,
        api: ApiSettings,
        rules: SubmissionRules,
        store: Callable[[], Store],
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        gate: SendGate | None = None,
        metrics: Metrics | None = None,
        clock_guard: ClockGuard | None = None,
    ) -> None:
        self.clock_guard = clock_guard or ClockGuard(wall=clock)
        self.api = api
        self._gate = gate
        self._metrics = metrics
        self._rules = rules
        self._store = store  # the root's: raises Unavailable while the store is closed
        self._clock = clock
        # Concat references need spread, not secrecy: a seeded generator picks the start.
        self._references = ConcatReferences(rng or random.Random())
        self._dispatcher: Dispatcher | None = None
        self._fleet: Fleet | None = None
        self._accepting = False

    @property
    def store(self) -> Store:
        return self._store()

    def open(self, dispatcher: Dispatcher, fleet: Fleet) -> None:
        """Take work from now on."""
        self._dispatcher, self._fleet = dispatcher, fleet
        self._accepting = True

    def close(self) -> None:
        """Take no more work; what is running finishes or is stopped by its owner."""
        self._accepting = False

    def is_ready(self) -> bool:
        return self.not_ready_reason() is None

    def not_ready_reason(self) -> str | None:
        if not self._accepting or self._fleet is None:
            return "not accepting work (starting or stopping)"
        try:
            store = self._store()
        except Unavailable:
            return "the store is not open"
        unhealthy = store.health()
        if unhealthy is not None:
            return unhealthy
        if self._dispatcher is not None and self._dispatcher.scheduler.loading:
            return "loading the queue from the store"
        if self.clock_guard.checking:
            return "checking the clock against the store"
        clock = self.clock_guard.doubt()
        if clock is not None:
            return f"{clock}: purges and expiries held until `smsgw clock confirm`"
        now = self._clock()
        if not any(h.usable(now) for h in self._fleet.handles.values()):
            return "no modem is ready"
        return None

    def modems(self) -> list[ModemStatus]:
        if self._fleet is None:
            return []
        now = self._clock()
        return [
            replace(h.status(now), waiting=modem_waiting(h, now))
            for h in self._fleet.handles.values()
        ]

    def waiting(self, message_id: str) -> Waiting | None:
        dispatcher = self._dispatcher
        return None if dispatcher is None else dispatcher.scheduler.waiting(message_id)

    def estimate(self, text: str, to: str | None) -> pdu_codec.Measure:
        """The cost preview of ``text`` to ``to``: the send path's own plan, not sent."""
        return estimate(text, to, self._rules)

    def prepare(self, request: SendRequest) -> NewMessage:
        """One request checked and filled by the submission rules, not stored: a
        broadcast's rows are checked at intake and become messages later."""
        return prepare_message(
            request, self._rules, now=self._clock(), api_key=None, references=self._references
        )

    async def submit(
        self,
        requests: Sequence[SendRequest],
        api_key: ApiKey | None,
        *,
        refuse_opted_out: bool = False,
    ) -> list[AddResult]:
        dispatcher = self._dispatcher
        if not self._accepting or dispatcher is None:
            raise Unavailable("the gateway is not running")
        for r in requests:
            if CONFIRMATION_KEY in r.metadata:
                raise ValidationError(
                    f"metadata key {CONFIRMATION_KEY} is the gateway's own",
                    field=f"{r.field_prefix}metadata.{CONFIRMATION_KEY}",
                )
        now = self._clock()
        new = [
            prepare_message(r, self._rules, now=now, api_key=api_key, references=self._references)
            for r in requests
        ]
        blocked = await self._opted_out(new)
        if refuse_opted_out and any(blocked):
            if self._metrics is not None:
                self._metrics.suppressed_send("intake")
            prefix = requests[blocked.index(True)].field_prefix
            raise OptedOut(OPTED_OUT_TEXT, field=f"{prefix}to")
        actor = api_key.id if api_key is not None else INTERNAL_ACTOR
        results = await self.store.add_messages(new, audited_by=(actor, SEND_ACTION))
        results = await self._suppress(results, blocked)
        await dispatcher.enqueue_many(
            [
                self._queue_item(r.message, r.to_hash)
                for r in results
                if r.created and r.message.state is MessageState.QUEUED
            ]
        )
        return results

    async def _opted_out(self, new: Sequence[NewMessage]) -> list[bool]:
        if self._gate is None:
            return [False] * len(new)
        number_hash = self.store.number_hash
        return await self._gate.blocked([number_hash(m.to) for m in new], [m.category for m in new])

    async def _suppress(self, results: list[AddResult], blocked: list[bool]) -> list[AddResult]:
        """Batch items to opted-out numbers: kept as a record, final at once (together, so
        the group writer commits them as one). A crash before this leaves them queued, and
        the gate before sending stops them there."""
        chosen = [
            index
            for index, (result, is_blocked) in enumerate(zip(results, blocked, strict=True))
            if is_blocked and result.created
        ]
        if not chosen:
            return results
        store = self.store
        await asyncio.gather(
            *(
                store.finish(
                    results[index].message.id,
                    MessageState.SUPPRESSED,
                    error_code=OPTED_OUT,
                    error_text=OPTED_OUT_TEXT,
                )
                for index in chosen
            )
        )
        out = list(results)
        for index in chosen:
            message = replace(
                results[index].message,
                state=MessageState.SUPPRESSED,
                last_error_code=OPTED_OUT,
                last_error_text=OPTED_OUT_TEXT,
            )
            out[index] = replace(results[index], message=message)
        if self._metrics is not None:
            self._metrics.suppressed_send("intake", len(chosen))
        return out

    async def send_confirmation(
        self, number: str, text: str, modem: str, keyword: ConsentKeyword
    ) -> None:
        """A consent keyword's answer: past the gate, from the modem the patient wrote to."""
        dispatcher = self._dispatcher
        if not self._accepting or dispatcher is None:
            raise Unavailable("the gateway is not running")
        request = SendRequest(
            to=number,
            body=text,
            priority=Priority.URGENT,
            tags=(CONFIRMATION_TAG,),
            metadata={CONFIRMATION_KEY: keyword.action.value},
        )
        new = prepare_message(
            request, self._rules, now=self._clock(), api_key=None, references=self._references
        )
        [result] = await self.store.add_messages([new])
        await dispatcher.enqueue_reply(self._queue_item(result.message, result.to_hash), modem)

    async def send_reply(self, request: SendRequest, modem: str) -> None:
        """The gateway's own answer to a patient's text (a reply's follow-up, a nudge):
        through the opt-out gate, audited, from the modem the patient wrote to."""
        dispatcher = self._dispatcher
        if not self._accepting or dispatcher is None:
            raise Unavailable("the gateway is not running")
        new = prepare_message(
            request, self._rules, now=self._clock(), api_key=None, references=self._references
        )
        blocked = await self._opted_out([new])
        results = await self._suppress(await self.store.add_messages([new]), blocked)
        [result] = results
        await self.store.audit(INTERNAL_ACTOR, SEND_ACTION, {"ids": [new.id]}, subject=new.id)
        if result.message.state is MessageState.QUEUED:
            await dispatcher.enqueue_reply(self._queue_item(result.message, result.to_hash), modem)

    async def cancel(
        self, message_id: str, *, owner: str | None = None, actor: str = "api"
    ) -> Message:
        message = await self.store.cancel_message(message_id, owner=owner)
        await self.store.audit(actor, CANCEL_ACTION, {"ids": [message_id]}, subject=message_id)
        if self._dispatcher is not None:
            self._dispatcher.cancel(message_id)
        return message

    async def confirm_clock(self, actor: str) -> str | None:
        """The technician says the wall clock is right: purges and expiries resume, and
        messages whose expiry passed meanwhile expire now. Audited. Returns the doubt
        cleared (None: there was none)."""
        cleared = self.clock_guard.confirm()
        await self.store.audit(actor, CLOCK_CONFIRM_ACTION, {"doubt": cleared}, subject=None)
        if self._dispatcher is not None:
            self._dispatcher.scheduler.refresh()  # expiries passed meanwhile, by this clock
        return cleared

    async def reset_modem(self, name: str, *, actor: str = "api") -> None:
        supervisor = self._running().supervisor(name)
        await self.store.audit(actor, passthrough.RESET_ACTION, {}, subject=name)
        supervisor.reset()

    async def modem_command(
        self,
        name: str,
        line: str,
        timeout: float | None,  # noqa: ASYNC109 - the modem's deadline, passed to the driver
        actor: str,
    ) -> list[str]:
        """Technician passthrough (audited): one AT command, run between sends."""
        return await self._running().supervisor(name).command(line, timeout, actor)

    async def modem_ussd(self, name: str, code: str, actor: str) -> passthrough.UssdAnswer:
        """Technician USSD request (audited)."""
        return await self._running().supervisor(name).ussd(code, actor)

    def _running(self) -> Fleet:
        if self._fleet is None:
            raise Unavailable("the gateway is not running")
        return self._fleet

    def _queue_item(self, message: Message, to_hash: bytes | None) -> QueueItem:
        """``to_hash`` as the store made it while adding; made here when a store did not."""
        return QueueItem(
            id=message.id,
            priority=message.priority,
            send_at=message.send_at,
            expires_at=message.expires_at,
            route=message.route,
            to_hash=self.store.number_hash(message.to) if to_hash is None else to_hash,
            attempts=message.attempts,
            category=message.category,
        )
