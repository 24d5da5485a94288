"""Per-modem workers: take the next message, send its segments, apply the retry policy.

One worker task per modem. A worker asks the scheduler for work only while its
modem is usable (the scheduler knows readiness), waits for the rate limiter,
then sends one message at a time, segment by segment:

    store.segment_sending  (durable before AT+CMGS: invariant 5)
    modem.send(pdu)        (the driver's deadline, plus an outer bound here)
    store.segment_sent

Between segments of a long message the worker lets strictly higher-priority
messages through, so a bulk job never holds an urgent one back by more than the
segment in flight. Failures go through ``gateway.core.policy``; a lost answer after
the PDU was written is recorded as ``unknown`` and never resent blindly. A failure that
says the modem is sick (SIM, network, a deadline missed before the PDU was written)
takes the modem out of rotation first (its supervisor), so the message moves at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from drivers import pdu as pdu_codec
from drivers.errors import DriverError, SendUnknown
from drivers.pdu import SubmitPdu
from gateway.consent.gate import OPTED_OUT, OPTED_OUT_TEXT, SendGate
from gateway.core.clock_guard import ClockGuard
from gateway.core.policy import Action, Classified, Outcome, RetryPolicy, classify
from gateway.core.routing import Router
from gateway.core.scheduler import Eligibility, Scheduler
from gateway.errors import Conflict, NotFound
from gateway.fleet.availability import modem_waiting
from gateway.fleet.handle import ModemHandle
from gateway.metrics import Metrics
from gateway.store.base import (
    FINAL_STATES,
    Message,
    MessageState,
    Priority,
    QueueItem,
    SegmentState,
    Store,
)

log = logging.getLogger(__name__)

# All durations in seconds.
SEND_DEADLINE: Final = 180.0  # outer bound on one modem.send; the driver's own is shorter
INTERNAL_RETRY_DELAY: Final = 5.0  # after an unexpected error handling a message
MAX_SHARED_TRACKS: Final = 1024  # distinct eligibilities whose first-attempt track is shared


FaultHandler = Callable[[Classified], None]
# Whether a message taken from the queue must wait for another's say (a paused broadcast,
# gateway.core.broadcasts): it is then out of the queue, and the holder hands it back.
Held = Callable[[QueueItem, Message], bool]


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    send_deadline: float = SEND_DEADLINE


@dataclass(slots=True)
class _Ready:
    """A message taken from the queue, loaded and encoded: what its sends need."""

    item: QueueItem
    message: Message
    pdus: list[SubmitPdu]
    claimed: bool = False  # its first unsent segment's `sending` is committed


@dataclass(frozen=True, slots=True)
class _Track:
    """What the dispatcher remembers about a queued message between attempts.

    Immutable, so every message queued with one eligibility shares one instance:
    a long queue then holds no per-message object here for the collector to walk.
    """

    eligibility: Eligibility
    switches: int = 0


class Dispatcher:
    def __init__(
        self,
        store: Store,
        scheduler: Scheduler,
        router: Router,
        policy: RetryPolicy,
        *,
        settings: DispatchSettings | None = None,
        metrics: Metrics | None = None,
        gate: SendGate | None = None,
        clock: Callable[[], float] = time.time,
        clock_guard: ClockGuard | None = None,
        held: Held | None = None,
    ) -> None:
        self.store = store
        self.gate = gate  # opt-outs, checked again right before a first segment
        self._held = held  # asked right before a first segment too
        self._clock_guard = clock_guard
        self.scheduler = scheduler
        self.router = router
        self.policy = policy
        self.settings = settings or DispatchSettings()
        self.metrics = metrics
        self._clock = clock
        self._track: dict[str, _Track] = {}
        self._fresh: dict[Eligibility, _Track] = {}  # the shared first-attempt tracks
        self._on_fault: dict[str, FaultHandler] = {}
        self._ahead: dict[str, _Ready] = {}  # per modem: the next message, taken ahead
        if metrics is not None:
            metrics.watch_waiting(scheduler.waiting_counts())

    # queueing --------------------------------------------------------------

    async def enqueue(self, item: QueueItem) -> None:
        """Queue a message: resolve its route (and sticky modem), hand it to the scheduler."""
        eligibility = await self.router.resolve(item, self.store)
        self._track[item.id] = self._fresh_track(eligibility)
        self.scheduler.add(item, eligibility)

    async def enqueue_many(self, items: Sequence[QueueItem]) -> None:
        """Queue a batch: every route resolved first, then one hand-over to the scheduler."""
        resolve, store = self.router.resolve, self.store
        queued = [(item, await resolve(item, store)) for item in items]
        track, fresh = self._track, self._fresh_track
        for item, eligibility in queued:
            track[item.id] = fresh(eligibility)
        self.scheduler.add_many(queued)

    async def enqueue_reply(self, item: QueueItem, modem: str) -> None:
        """Queue a reply to a text: from the modem the text came to while it can send."""
        eligibility = replace(await self.router.resolve(item, self.store), preferred=modem)
        self._track[item.id] = _Track(eligibility)
        self.scheduler.add(item, eligibility)

    def _fresh_track(self, eligibility: Eligibility) -> _Track:
        found = self._fresh.get(eligibility)
        if found is None:
            if len(self._fresh) >= MAX_SHARED_TRACKS:
                return _Track(eligibility)
            found = self._fresh[eligibility] = _Track(eligibility)
        return found

    def cancel(self, message_id: str) -> None:
        self.scheduler.remove(message_id)
        self._track.pop(message_id, None)

    async def expire_loop(self) -> None:
        """Mark messages whose expiry passed while queued (the scheduler hands them back)."""
        while True:
            expired = await self.scheduler.wait_expired()
            if self._clock_guard is not None:
                await self._clock_guard.trusted("expiry")
                # A clock that stepped back to where it was: not expired after all.
                now = self._clock()
                for item in [i for i in expired if i.expires_at is not None and i.expires_at > now]:
                    await self.enqueue(item)
                expired = [i for i in expired if i.expires_at is None or i.expires_at <= now]
            for item in expired:
                self._track.pop(item.id, None)
                try:
                    await self.store.finish(
                        item.id, MessageState.EXPIRED, error_code="expired", error_text="expired"
                    )
                except Exception:
                    log.exception("could not mark message %s expired", item.id)

    # modems ----------------------------------------------------------------

    def add_modem(self, handle: ModemHandle, on_fault: FaultHandler) -> None:
        """``on_fault``: told when a send meets a SIM or modem fault (its supervisor)."""
        self._on_fault[handle.name] = on_fault
        self.scheduler.add_modem(handle.name)
        self.update_ready(handle)

    def regroup(self) -> None:
        """After ``router.add_modem``: queued messages whose route gained the modem may use it."""
        widen = self.router.widen
        self.scheduler.regroup(widen)
        self._fresh.clear()
        for message_id, track in self._track.items():
            eligibility = widen(track.eligibility)
            if eligibility != track.eligibility:
                self._track[message_id] = (
                    self._fresh_track(eligibility)
                    if track.switches == 0
                    else _Track(eligibility, track.switches)
                )

    def update_ready(self, handle: ModemHandle) -> None:
        now = self._clock()
        self.scheduler.set_ready(handle.name, handle.usable(now))
        self.scheduler.set_modem_waiting(handle.name, modem_waiting(handle, now))

    async def _wait_window(self, handle: ModemHandle) -> None:
        """Wait for the modem's rate limit, the scheduler told meanwhile why its work waits."""
        while handle.limiter.delay() > 0:
            self.update_ready(handle)
            await handle.limiter.wait()
        self.update_ready(handle)

    # workers ---------------------------------------------------------------

    async def worker(self, handle: ModemHandle) -> None:
        """The worker task of one modem; runs until cancelled or ``handle.stopping``."""
        name = handle.name
        try:
            while not handle.stopping:
                ready = self._ahead.pop(name, None)
                if (
                    ready is not None
                    and not ready.claimed
                    and self._holds(ready.item, ready.message)
                ):
                    ready = None  # taken ahead, then its broadcast was paused
                elif ready is not None and not ready.claimed and not handle.usable(self._clock()):
                    # taken ahead, then the modem left rotation: the queue decides again
                    self.scheduler.add(ready.item, self._eligibility(ready.item.id))
                    ready = None
                if ready is None:
                    await self._wait_window(handle)
                    item = await self.scheduler.next_for(name)
                else:
                    item = ready.item
                handle.busy = True
                try:
                    if ready is None:
                        ready = await self._prepare(item)
                    if ready is not None:
                        await self._send_message(ready, handle, nested=False)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("unexpected error sending message %s on modem %s", item.id, name)
                    await self._requeue_after_bug(item, name)
                finally:
                    handle.busy = False
        finally:
            self._give_back(name)

    def _give_back(self, modem: str) -> None:
        """A message taken ahead and not yet claimed goes back to the queue (a claimed one
        is `sending` with nothing written: the next start requeues it, as any such)."""
        ready = self._ahead.pop(modem, None)
        if ready is not None and not ready.claimed:
            self.scheduler.add(ready.item, self._eligibility(ready.item.id))

    async def _requeue_after_bug(self, item: QueueItem, modem: str) -> None:
        """After an unexpected error: requeue, unless a segment may have left (then unknown)."""
        try:
            message = await self.store.get_message(item.id)
            if message is None or message.state not in (MessageState.QUEUED, MessageState.SENDING):
                self._track.pop(item.id, None)
                return
            in_flight = [s for s in message.segments if s.state is SegmentState.SENDING]
            if in_flight:
                for segment in in_flight:
                    await self.store.segment_unknown(
                        item.id, segment.seq, modem, "internal error while sending"
                    )
                self._track.pop(item.id, None)
                return
            send_at = self._clock() + INTERNAL_RETRY_DELAY
            await self.store.requeue(
                item.id, send_at=send_at, error_code="internal_error", error_text="internal error"
            )
        except Exception:
            log.exception("could not recover message %s; the next start will", item.id)
            return
        track = self._track.get(item.id)
        self.scheduler.add(
            replace(item, send_at=send_at, attempts=message.attempts + 1),
            track.eligibility if track else Eligibility(),
        )

    async def _process(self, item: QueueItem, handle: ModemHandle, *, nested: bool) -> None:
        ready = await self._prepare(item)
        if ready is not None:
            await self._send_message(ready, handle, nested=nested)

    async def _prepare(self, item: QueueItem) -> _Ready | None:
        """Load, check and encode a message taken from the queue; None when it is not to
        be sent now (gone, expired, held, suppressed, not encodable: dealt with here)."""
        message = await self.store.get_message(item.id)
        if message is None or message.state is not MessageState.QUEUED:
            self._track.pop(item.id, None)  # cancelled or finished meanwhile
            return None
        now = self._clock()
        if message.expires_at is not None and message.expires_at <= now:
            self._track.pop(item.id, None)
            await self.store.finish(
                item.id, MessageState.EXPIRED, error_code="expired", error_text="expired"
            )
            return None
        if self._holds(item, message):
            return None
        if self.scheduler.held_until(item) is not None and all(
            s.state is SegmentState.PENDING for s in message.segments
        ):
            track = self._track.get(item.id)  # back to wait for the end of its quiet hours
            self.scheduler.add(item, track.eligibility if track else Eligibility())
            return None
        # Checked at the message's own time, after its quiet hours: a START may come first.
        if await self._suppressed(item, message):
            return None
        try:
            pdus = pdu_codec.encode(
                message.to,
                message.body,
                request_report=message.request_report,
                reference=message.concat_ref,
                national=self.router.national_language(message.route),
            )
        except DriverError as exc:
            await self._finish_failed(item.id, exc.code, "message cannot be encoded")
            return None
        if len(pdus) != len(message.segments):
            await self._finish_failed(item.id, "segment_mismatch", "segment count changed")
            return None
        return _Ready(item, message, pdus)

    def _holds(self, item: QueueItem, message: Message) -> bool:
        """Whatever path brought the message back to the queue (a retry, a requeue of
        `unknown`, a modem handing back what it took ahead), a paused broadcast's waits
        here, before its first segment (once one has gone, the rest follow)."""
        if self._held is None or any(s.state is not SegmentState.PENDING for s in message.segments):
            return False
        if not self._held(item, message):
            return False
        self._track.pop(message.id, None)  # its holder queues it again
        return True

    async def _send_message(self, ready: _Ready, handle: ModemHandle, *, nested: bool) -> None:
        item, message = ready.item, ready.message
        todo = [
            (segment_pdu, segment.seq)
            for segment_pdu, segment in zip(ready.pdus, message.segments, strict=True)
            if segment.state not in (SegmentState.SENT, SegmentState.DELIVERED)
        ]
        for n, (segment_pdu, seq) in enumerate(todo):
            # Between segments, and before the first of a message taken ahead (an urgent
            # one that came while it waited must not wait for it too).
            if n > 0 or ready.claimed:
                if not nested:
                    await self._let_higher_priority_through(handle, message.priority)
                if handle.stopping:
                    return  # left in `sending`; recovery at the next start requeues it
            last = n == len(todo) - 1 and not nested
            claimed = ready.claimed and n == 0
            if not await self._send_segment(
                item, message, seq, segment_pdu, handle, claimed=claimed, last=last
            ):
                return
        self._track.pop(item.id, None)

    async def _take_ahead(self, handle: ModemHandle) -> _Ready | None:
        """While a message's last segment is in the air: the next one, loaded and encoded,
        so only the commit is left between the answer and the next AT+CMGS."""
        item = self.scheduler.take(handle.name)
        if item is None:
            return None
        try:
            return await self._prepare(item)
        except asyncio.CancelledError:
            self.scheduler.add(item, self._eligibility(item.id))
            raise
        except Exception:
            log.exception("unexpected error preparing message %s", item.id)
            await self._requeue_after_bug(item, handle.name)
            return None

    def _eligibility(self, message_id: str) -> Eligibility:
        track = self._track.get(message_id)
        return track.eligibility if track else Eligibility()

    async def _suppressed(self, item: QueueItem, message: Message) -> bool:
        """The number opted out while the message waited: it ends `suppressed`, with
        nothing written to a modem. Once a segment has gone, the rest follow (half a
        text is worse than a whole one)."""
        if self.gate is None or any(s.state is not SegmentState.PENDING for s in message.segments):
            return False
        if not await self.gate.blocks_message(item.to_hash, message.metadata, message.category):
            return False
        self._track.pop(item.id, None)
        await self.store.finish(
            item.id, MessageState.SUPPRESSED, error_code=OPTED_OUT, error_text=OPTED_OUT_TEXT
        )
        if self.metrics is not None:
            self.metrics.suppressed_send("send")
        log.info("message %s suppressed before sending: the number opted out", item.id)
        return True

    async def _let_higher_priority_through(self, handle: ModemHandle, priority: Priority) -> None:
        while (urgent := self.scheduler.take(handle.name, better_than=priority)) is not None:
            try:
                await self._process(urgent, handle, nested=True)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("unexpected error sending message %s", urgent.id)
                await self._requeue_after_bug(urgent, handle.name)

    async def _send_segment(
        self,
        item: QueueItem,
        message: Message,
        seq: int,
        submit: SubmitPdu,
        handle: ModemHandle,
        *,
        claimed: bool = False,
        last: bool = False,
    ) -> bool:
        """Send one segment; False when the message must not continue now.

        ``claimed``: its `sending` is committed already (with the previous message's
        `sent`). ``last``: the message's last segment, outside the urgent ones' turn:
        the next message is taken and prepared while it is in the air, and its first
        `sending` committed in the same transaction as this `sent`.
        """
        if not claimed:
            await self._wait_window(handle)
            counted = handle.limiter.record()
            try:
                await self.store.segment_sending(message.id, seq, handle.name, rate=counted)
            except (Conflict, NotFound):
                self._track.pop(message.id, None)  # cancelled or gone since we loaded it
                return False
        ahead = asyncio.create_task(self._take_ahead(handle)) if last else None
        started = time.monotonic()
        error: BaseException
        try:
            async with asyncio.timeout(self.settings.send_deadline):
                reference = await handle.modem.send(submit)
        except TimeoutError:
            error = SendUnknown(f"no answer within {self.settings.send_deadline:g} s")
        except asyncio.CancelledError:
            if ahead is not None:
                self._drop_ahead(ahead)
            raise
        except Exception as exc:
            error = exc
        else:
            now = self._clock()
            # Counted first: the modem took it, and whoever sees `sent` sees it counted.
            handle.sent_total += 1
            handle.seen(now)
            if self.metrics is not None:
                self.metrics.segment_sent(handle.name, time.monotonic() - started, at=now)
            ready = await self._settle_ahead(ahead, handle) if ahead is not None else None
            if (
                ready is not None
                and self._may_claim(handle)
                and not self._holds(ready.item, ready.message)
            ):
                await self._sent_and_claim(message.id, seq, handle, reference, now, ready)
            else:
                await self.store.segment_sent(message.id, seq, handle.name, reference, now)
            return True
        if ahead is not None:
            await self._settle_ahead(ahead, handle)
            self._give_back(handle.name)  # the modem may be sick: the queue decides again
        await self._failed(item, message, seq, error, handle, time.monotonic() - started)
        return False

    async def _settle_ahead(
        self, ahead: asyncio.Task[_Ready | None], handle: ModemHandle
    ) -> _Ready | None:
        """The message taken ahead, kept for the worker's next turn (or None)."""
        ready = await ahead
        if ready is not None:
            self._ahead[handle.name] = ready
        return ready

    def _drop_ahead(self, ahead: asyncio.Task[_Ready | None]) -> None:
        """The worker is cancelled mid-send: what was taken ahead goes back to the queue."""
        if not ahead.done():
            ahead.cancel()  # _take_ahead puts its item back
        elif not ahead.cancelled() and ahead.exception() is None:
            ready = ahead.result()
            if ready is not None:
                self.scheduler.add(ready.item, self._eligibility(ready.item.id))

    def _may_claim(self, handle: ModemHandle) -> bool:
        return not handle.stopping and handle.usable(self._clock()) and handle.limiter.delay() <= 0

    async def _sent_and_claim(
        self,
        message_id: str,
        seq: int,
        handle: ModemHandle,
        reference: int,
        at: float,
        ready: _Ready,
    ) -> None:
        """This segment's `sent` and the next message's first `sending`, submitted together
        so the store's writer commits them in one transaction (one fsync). The next one's
        refusal (cancelled meanwhile) is its own: this `sent` commits regardless."""
        nxt = ready.message
        first = next(
            s.seq
            for s in nxt.segments
            if s.state not in (SegmentState.SENT, SegmentState.DELIVERED)
        )
        counted = handle.limiter.record()
        sent, claim = await asyncio.gather(
            self.store.segment_sent(message_id, seq, handle.name, reference, at),
            self.store.segment_sending(nxt.id, first, handle.name, rate=counted),
            return_exceptions=True,
        )
        if isinstance(claim, (Conflict, NotFound)):
            self._ahead.pop(handle.name, None)
            self._track.pop(nxt.id, None)  # cancelled or gone since we loaded it
        elif isinstance(claim, BaseException):
            self._give_back(handle.name)
            log.warning("could not claim message %s on modem %s: %s", nxt.id, handle.name, claim)
        else:
            ready.claimed = True
        if isinstance(sent, BaseException):
            raise sent

    async def _failed(
        self,
        item: QueueItem,
        message: Message,
        seq: int,
        error: BaseException,
        handle: ModemHandle,
        duration: float,
    ) -> None:
        verdict = classify(error)
        handle.failed_total += 1
        handle.last_error = verdict.code
        if self.metrics is not None:
            asked = verdict.code != "modem_unavailable"  # else the modem was never asked
            self.metrics.segment_failed(
                handle.name, verdict.action.value, duration if asked else None
            )
        log.warning(
            "message %s segment %d on modem %s failed: %s (%s)",
            message.id,
            seq,
            handle.name,
            verdict.code,
            verdict.action.value,
        )
        if verdict.holds_modem:
            self._on_fault[handle.name](verdict)  # out of rotation before the requeue below
        if verdict.action is Action.UNKNOWN:
            resend = self.policy.config.resend_unknown
            await self.store.segment_unknown(
                message.id, seq, handle.name, verdict.text, final=not resend
            )
            if not resend:
                self._track.pop(message.id, None)
                return  # the store marked the message `unknown`
        track = self._track.setdefault(message.id, _Track(Eligibility()))
        moved = track.eligibility.excluding(handle.name)
        decision = self.policy.decide(
            verdict,
            attempts=message.attempts,
            switches=track.switches,
            now=self._clock(),
            alternative=self.scheduler.has_alternative(moved, handle.name),
        )
        if decision.outcome is Outcome.FAIL:
            await self._finish_failed(message.id, decision.code, decision.text)
            return
        # UNKNOWN with resend_unknown, or REQUEUE: back to the queue.
        await self.store.requeue(
            message.id,
            send_at=decision.send_at,
            error_code=decision.code,
            error_text=decision.text,
            count_attempt=verdict.counts_attempt,
        )
        track = _Track(
            moved if decision.exclude_modem or verdict.holds_modem else track.eligibility,
            track.switches + 1 if decision.switched else track.switches,
        )
        if message.id in self._track:  # else cancelled meanwhile
            self._track[message.id] = track
        attempts = message.attempts + (1 if verdict.counts_attempt else 0)
        self.scheduler.add(
            replace(item, send_at=decision.send_at, attempts=attempts), track.eligibility
        )

    async def _finish_failed(self, message_id: str, code: str, text: str) -> None:
        self._track.pop(message_id, None)
        message = await self.store.get_message(message_id)
        if message is not None and message.state in FINAL_STATES:
            return
        await self.store.finish(message_id, MessageState.FAILED, error_code=code, error_text=text)

    # lifecycle -------------------------------------------------------------

    def close(self) -> None:
        self.scheduler.close()
