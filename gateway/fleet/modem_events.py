"""What a modem tells us unasked: inbound texts, delivery reports, state and network changes.

One consumer task per modem drains ``modem.events``. Inbound parts and reports
are committed to the store first and only then deleted from the modem
(invariant 2), or, when the network routed them (+CMT/+CDS), acknowledged
(AT+CNMA): a crash in between leaves the message on the modem, or with the
network, which delivers it again. A stored part's dedupe key names its slot, so
the re-read after a restart is a no-op while two equal texts in two slots stay
two; the key is released once the slot is deleted. A routed part has no slot:
its key is its content, held for ``ROUTED_DEDUPE_WINDOW`` (the network's
redelivery of a message whose ack a crash cut off comes within minutes; two
identical routed texts with the same SCTS second inside the window are the one
case still merged). A PDU that does not decode is kept sealed, counted, shown
as an ``inbound.undecodable`` event, and then freed the same way. A bad event
is logged (ids and codes only, never a number or a text) and the consumer
carries on.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Final

from drivers.errors import DriverError
from drivers.pdu import Encoding
from drivers.types import (
    InboundMessage,
    ModemEvent,
    ModemState,
    NetworkChanged,
    RoutedAck,
    StateChanged,
    StatusReportReceived,
    StoredLocation,
    UndecodablePdu,
)
from gateway.consent.desk import ConsentDesk
from gateway.fleet.handle import ModemHandle
from gateway.metrics import Metrics
from gateway.store.base import Inbound, InboundPart, Store, UndecodableInbound

log = logging.getLogger(__name__)

# Told of each complete inbound text once it is committed and settled.
InboundHook = Callable[[Inbound], Awaitable[None]]

# All durations in seconds.
DELETE_DEADLINE: Final = 30.0  # bound on AT+CMGD after a commit
REASSEMBLY_CHECK_MAX: Final = 60.0  # the releaser looks at least this often
ROUTED_DEDUPE_WINDOW: Final = 600.0  # how long a routed part's content key holds
ACK_DEADLINE: Final = 30.0  # bound on AT+CNMA after a commit

STATE_EVENT_KINDS: Final = {
    ModemState.READY: "modem.up",
    ModemState.DOWN: "modem.down",
    ModemState.STARTING: "modem.starting",
    ModemState.CLOSED: "modem.closed",
}


def dedupe_key(modem: str, pdu_hex: str, location: StoredLocation | None) -> str:
    """Same modem, same slot, same PDU: the same message read twice (e.g. after a crash).

    A routed message has no slot: ``routed`` stands in, and the key holds only for
    ``ROUTED_DEDUPE_WINDOW``. The open of the port (``generation``) is left out on
    purpose: a re-read after a restart comes from another open.
    """
    slot = "routed" if location is None else f"{location.memory}/{location.index}"
    return hashlib.sha256(f"{modem}:{slot}:{pdu_hex.upper()}".encode()).hexdigest()


def _runs_of_reports(
    events: list[ModemEvent],
) -> list[ModemEvent | list[StatusReportReceived]]:
    """The events in order, consecutive status reports gathered into one list."""
    runs: list[ModemEvent | list[StatusReportReceived]] = []
    for event in events:
        if isinstance(event, StatusReportReceived):
            last = runs[-1] if runs else None
            if isinstance(last, list):
                last.append(event)
            else:
                runs.append([event])
        else:
            runs.append(event)
    return runs


def dedupe_window(location: StoredLocation | None) -> float | None:
    return ROUTED_DEDUPE_WINDOW if location is None else None


class ModemEvents:
    """Consumer of one modem's events."""

    def __init__(
        self,
        handle: ModemHandle,
        store: Store,
        *,
        on_state: Callable[[StateChanged], None],
        on_network: Callable[[NetworkChanged], None] | None = None,
        metrics: Metrics | None = None,
        consent: ConsentDesk | None = None,
        clock: Callable[[], float] = time.time,
        on_inbound: InboundHook | None = None,
    ) -> None:
        self.handle = handle
        self._consent = consent  # answers opt-out keywords once their text is committed
        self.store = store
        self._on_state = on_state
        self._on_network = on_network  # the supervisor takes an unregistered modem out
        self._on_inbound = on_inbound  # the after-hours auto-reply
        self._metrics = metrics
        self._clock = clock
        self.handled = 0  # events handled, successfully or not
        # texts among them: a report or state change handled meanwhile is no sign that a
        # text was, so whoever waits for a text waits on this
        self.texts_handled = 0

    async def run(self) -> None:
        events = self.handle.modem.events
        while True:
            batch = [await events.get()]
            while not events.empty():
                batch.append(events.get_nowait())  # what queued meanwhile, taken at once
            for group in _runs_of_reports(batch):
                try:
                    if isinstance(group, list):
                        await self._reports(group)
                    else:
                        await self.handle_event(group)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    kind = "status reports" if isinstance(group, list) else type(group).__name__
                    log.exception("error handling %s from modem %s", kind, self.handle.name)
                finally:
                    self.handled += len(group) if isinstance(group, list) else 1
                    if isinstance(group, InboundMessage):
                        self.texts_handled += 1

    async def handle_event(self, event: ModemEvent) -> None:
        if isinstance(event, InboundMessage):
            await self._inbound(event)
        elif isinstance(event, StatusReportReceived):
            await self._report(event)
        elif isinstance(event, UndecodablePdu):
            await self._undecodable(event)
        elif isinstance(event, StateChanged):
            await self._state(event)
        else:
            await self._network(event)

    async def _inbound(self, event: InboundMessage) -> None:
        handle = self.handle
        deliver = event.deliver
        now = self._clock()
        handle.seen(now)
        concat = deliver.concat
        text = deliver.text if deliver.encoding is not Encoding.BIT8 else deliver.data.hex()
        part = InboundPart(
            modem=handle.name,
            sender=deliver.sender,
            text=text,
            encoding=deliver.encoding.value,
            received_at=now,
            sent_at=deliver.timestamp.timestamp(),
            dedupe_key=dedupe_key(handle.name, event.pdu_hex, event.location),
            concat_ref=concat.reference if concat else None,
            concat_total=concat.total if concat else None,
            concat_seq=concat.sequence if concat else None,
            dedupe_window=dedupe_window(event.location),
        )
        # Committed before the delete below, with any opt-out change the text makes.
        result = await self.store.add_inbound(part)
        if result.inbound is not None:
            log.debug("inbound %s on modem %s", result.inbound.id, handle.name)
            if self._metrics is not None:
                self._metrics.inbound_received(handle.name)
        await self._settle(event.location, event.ack, part.dedupe_key)
        if self._consent is not None and result.inbound is not None:
            await self._consent.answer(result.inbound, result.consent)
        if result.inbound is not None and self._on_inbound is not None:
            await self._on_inbound(result.inbound)  # after the settle: it may send a reply

    async def _undecodable(self, event: UndecodablePdu) -> None:
        handle = self.handle
        location = event.location
        raw = UndecodableInbound(
            modem=handle.name,
            pdu_hex=event.pdu_hex,
            received_at=self._clock(),
            dedupe_key=dedupe_key(handle.name, event.pdu_hex, location),
            slot=None if location is None else f"{location.memory}/{location.index}",
            dedupe_window=dedupe_window(location),
        )
        raw_id = await self.store.add_undecodable(raw)  # committed before the delete below
        if raw_id is not None:
            log.warning("undecodable PDU kept as %s on modem %s", raw_id, handle.name)
            if self._metrics is not None:
                self._metrics.undecodable_pdu(handle.name)
        await self._settle(location, event.ack, raw.dedupe_key)

    async def _report(self, event: StatusReportReceived) -> None:
        await self._reports([event])

    async def _reports(self, events: list[StatusReportReceived]) -> None:
        """Reports that arrived together: submitted at once, so the store's writer applies
        them in one transaction; then each is freed from the modem, in order."""
        handle = self.handle
        now = self._clock()
        handle.seen(now)
        store = self.store
        results = await asyncio.gather(
            *(
                store.apply_report(
                    handle.name, e.report.reference, e.report.recipient, e.report.status, now
                )
                for e in events
            ),
            return_exceptions=True,
        )
        failed: BaseException | None = None
        for event, result in zip(events, results, strict=True):
            report = event.report
            if isinstance(result, BaseException):
                failed = failed or result  # left on the modem: its sweep reads it again
                continue
            outcome = report.outcome if result.message_id is not None else "unmatched"
            if self._metrics is not None:
                self._metrics.delivery_report(handle.name, outcome)
            log.debug(
                "status report on modem %s: mr=%d st=%d -> %s",
                handle.name,
                report.reference,
                report.status,
                result.message_id or "unmatched",
            )
            await self._settle(event.location, event.ack, None)
        if failed is not None:
            raise failed

    async def _state(self, event: StateChanged) -> None:
        handle = self.handle
        previous = handle.state
        self._on_state(event)  # the supervisor records it on the handle
        if event.state is previous:
            return
        log.info("modem %s is %s (%s)", handle.name, event.state.value, event.reason)
        if (
            event.state is ModemState.DOWN
            and previous is ModemState.READY
            and self._metrics is not None
        ):
            self._metrics.modem_reset(handle.name, event.reason)
        await self.store.add_event(
            STATE_EVENT_KINDS[event.state], handle.name, {"reason": event.reason}
        )

    async def _network(self, event: NetworkChanged) -> None:
        handle = self.handle
        handle.seen(self._clock())
        if self._on_network is not None:
            self._on_network(event)
        health = handle.health
        if health is None:
            return  # the next health poll fills it in
        registration = event.registration or health.registration
        signal = event.signal_dbm if event.signal_dbm is not None else health.signal_dbm
        handle.health = replace(health, registration=registration, signal_dbm=signal)
        if registration is not health.registration:
            await self.store.add_event(
                "modem.network", handle.name, {"registration": registration.value}
            )

    async def _settle(
        self, location: StoredLocation | None, ack: RoutedAck | None, key: str | None
    ) -> None:
        """After the commit: free the slot (then its dedupe key), or acknowledge."""
        if location is not None:
            if await self._delete(location) and key is not None:
                await self.store.release_inbound(key)
        elif ack is not None:
            await self._acknowledge(ack)

    async def _acknowledge(self, ack: RoutedAck) -> None:
        try:
            async with asyncio.timeout(ACK_DEADLINE):
                await self.handle.modem.acknowledge(ack)
        except (DriverError, TimeoutError) as exc:
            # Stored already; the network delivers it again and the routed key drops it.
            log.warning("could not acknowledge on modem %s: %s", self.handle.name, exc)

    async def _delete(self, location: StoredLocation) -> bool:
        """True when the slot is free (False: a stale location the driver left alone).
        A crash before the release keeps the key, so an identical PDU stored later in the
        same slot would be taken for a re-read: the one window left."""
        try:
            async with asyncio.timeout(DELETE_DEADLINE):
                return await self.handle.modem.delete(location)
        except (DriverError, TimeoutError) as exc:
            # Stored already; the modem's storage sweep reads it again and dedupe drops it.
            log.warning(
                "could not delete %s/%d on modem %s: %s",
                location.memory,
                location.index,
                self.handle.name,
                exc,
            )
            return False


async def release_incomplete_loop(
    store: Store,
    reassembly_timeout: float,
    *,
    metrics: Metrics | None = None,
    clock: Callable[[], float] = time.time,
    on_inbound: InboundHook | None = None,
) -> None:
    """Release multipart inbound whose missing parts did not come within the timeout."""
    interval = min(REASSEMBLY_CHECK_MAX, max(0.05, reassembly_timeout / 4))
    while True:
        await asyncio.sleep(interval)  # a modelled period, not a wait for something
        try:
            released = await store.release_incomplete(clock() - reassembly_timeout)
        except Exception:
            log.exception("releasing incomplete inbound failed")
            continue
        for inbound in released:
            log.info("inbound %s released with parts missing", inbound.id)
            if metrics is not None:
                metrics.inbound_received(inbound.modem)
            if on_inbound is not None:
                await on_inbound(inbound)
