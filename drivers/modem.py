"""One modem: supervision (open, boot, init, reopen) and the operations the gateway uses.

``Modem`` has a ``Session`` per open (session.py), which has an engine (engine.py), which
has a transport (transport.py); it never touches bytes. A named supervision task owns the
port: it opens it, brings it to READY (bringup.py), sweeps stored messages, and reopens
with capped exponential backoff when the port goes away or stops answering (silence is
treated like an unplug). Silence that a re-initialise did not cure climbs a ladder: reopen
and re-initialise, then a hard reset (AT+CFUN=1,1) and a reopen of the re-enumerated port,
then DOWN with the backoff grown to its cap; see ``HangLadder``. Everything the modem tells
us arrives on ``events``.

Logs carry no phone numbers, message texts or PDUs: only command names, lengths, counts.
All timeouts in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
from collections import deque

from drivers import bringup, replies
from drivers.engine import CommandPriority, EngineStats
from drivers.errors import (
    CmeError,
    CmsError,
    CommandTimeout,
    DriverError,
    ModemDisconnected,
    ModemUnavailable,
    PduError,
    SimPinError,
    UssdError,
)
from drivers.passthrough import check_passthrough
from drivers.pdu import Deliver, StatusReport, SubmitPdu, decode, decode_ussd
from drivers.quirks import VendorProfile, get_profile
from drivers.session import Session
from drivers.settings import ModemSettings
from drivers.transport import is_url
from drivers.types import (
    Health,
    Identity,
    InboundMessage,
    ModemEvent,
    ModemState,
    NetworkChanged,
    Registration,
    RoutedAck,
    StateChanged,
    StatusReportReceived,
    StoredLocation,
    UndecodablePdu,
    UssdReply,
)
from drivers.urcs import Urc

__all__ = ["Modem", "ModemSettings"]

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0  # stop(): bound on tearing the supervision task down
OPEN_TIMEOUT = 10.0  # the port opens in an executor thread: a wedged driver must not hang us
VANISH_POLL_INTERVAL = 0.05  # after a reset, the old node may be gone for only a moment
HARD_RESET_TIMEOUT = 3.0  # OK to AT+CFUN=1,1 on a port that missed its deadlines (or less:
# never more than command_timeout); a modem that stays silent is reopened all the same
UNRESPONSIVE = "unresponsive"  # StateChanged reasons of the hang ladder
HARD_RESET = "hard_reset"
GONE_INDEX_CMS = frozenset({321})  # invalid index: already deleted
GONE_INDEX_CME = frozenset({21, 22})
CNMA_NOT_EXPECTED_CMS = 340  # AT+CNMA with no acknowledgement pending (or too late)
# A routed message not acknowledged by then never will be (its commit failed): the modem
# has long given up on it (and switched routing off, 27.005 +CNMI), so routing is set again.
ACK_GIVEN_UP = 60.0
STORED_INDICATIONS = frozenset({"+CMTI:", "+CDSI:"})
# 27.005 PDU-mode <stat> of messages written to storage to be sent: 2 STO UNSENT, 3 STO SENT.
STORED_OUTGOING_STATS = frozenset({2, 3})
ROUTED = frozenset({"+CMT:", "+CDS:"})
REGISTRATION_QUERIES = (("AT+CREG?", "+CREG:"), ("AT+CGREG?", "+CGREG:"), ("AT+CEREG?", "+CEREG:"))
REGISTRATION_URCS = frozenset(prefix for _, prefix in REGISTRATION_QUERIES)
BOOT_MARKERS = frozenset({"RDY", "^SYSSTART"})
USSD_CODE = re.compile(r"[0-9*#+]{1,64}")


async def _delete_slot(session: Session, index: int) -> None:
    """AT+CMGD in the selected memory; a slot already empty counts as deleted."""
    try:
        await session.run(f"AT+CMGD={index}", CommandPriority.READ)
    except CmsError as exc:
        if exc.number not in GONE_INDEX_CMS:
            raise
    except CmeError as exc:
        if exc.number not in GONE_INDEX_CME:
            raise


def _port_present(path: str) -> bool:
    """One stat of the device path: cheap enough for the loop, no executor needed."""
    return os.path.exists(path)


def _port_identity(path: str) -> tuple[int, int, int] | None:
    """(inode and change time of the name, device number): udev recreates both on replug.

    A modem that re-enumerates quickly may be back under the same name before a poll
    notices it was gone, even with a reused inode or device number; the change time of
    the new name tells the two apart.
    """
    try:
        name = os.lstat(path)
        return name.st_ino, name.st_ctime_ns, os.stat(path).st_rdev
    except OSError:
        return None


class HangLadder:
    """When an unresponsive modem calls for a hard reset; sans-IO (times are passed in).

    An "unresponsive" ending is a session dropped for missed deadlines, or a bring-up that
    got no answer. The first within ``window`` seconds is cured by reopening and
    re-initialising; the second means that did not work, so it calls for a hard reset, at
    most one per window. Endings older than the window are forgotten: a modem that kept
    answering for a whole window starts from the bottom again.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self._endings: deque[float] = deque()
        self._hard_reset_at: float | None = None

    def unresponsive(self, now: float) -> bool:
        """Record one unresponsive ending; True when it calls for a hard reset."""
        self._forget(now)
        self._endings.append(now)
        if len(self._endings) < 2:
            return False
        if self._hard_reset_at is not None and now - self._hard_reset_at < self.window:
            return False
        self._hard_reset_at = now
        return True

    def persisting(self, now: float) -> bool:
        """A re-initialise did not cure it: the reopen backoff keeps growing to its cap."""
        self._forget(now)
        return len(self._endings) >= 2

    def _forget(self, now: float) -> None:
        while self._endings and now - self._endings[0] >= self.window:
            self._endings.popleft()


class Modem:
    """One modem; see drivers/__init__.py for how the gateway uses it."""

    def __init__(self, settings: ModemSettings, *, name: str = "modem") -> None:
        self.settings = settings
        self.name = name
        self.events: asyncio.Queue[ModemEvent] = asyncio.Queue()
        self.stats = EngineStats()
        self.profile: VendorProfile = get_profile(settings.profile)
        self.state = ModemState.CLOSED
        self.state_reason = "not started"
        self.identity: Identity | None = None
        self._session: Session | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._fatal: DriverError | None = None
        self._ready_waiters: set[asyncio.Future[None]] = set()
        self._stopping = False
        self._opened_identity: tuple[int, int, int] | None = None
        self._generation = 0  # opens of the port so far
        self._domains: dict[str, Registration] = {}  # "+CREG:" ... -> last state seen
        self.registration = Registration.UNKNOWN  # best of the domains; see NetworkChanged
        self._concat_reference = random.randrange(256)

    # ---- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Start supervising the port; returns at once (see ``wait_ready``)."""
        if self._supervisor is not None and not self._supervisor.done():
            return
        self._fatal = None
        self._set_state(ModemState.STARTING, "starting")
        self._supervisor = asyncio.create_task(
            self._supervise(), name=f"modem:{self.name}:supervisor"
        )
        self._supervisor.add_done_callback(self._supervisor_done)

    def _supervisor_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        log.error("%s: supervision failed", self.name, exc_info=task.exception())
        self._set_state(ModemState.DOWN, "internal_error")
        self._release_waiters(ModemUnavailable("modem supervision failed"))

    async def wait_ready(self, timeout: float) -> None:  # noqa: ASYNC109 (public interface)
        """Until READY; ModemUnavailable on timeout or when supervision gave up (SIM PIN)."""
        if self.state is ModemState.READY:
            return
        if self._fatal is not None:
            raise ModemUnavailable(f"modem is down ({self.state_reason})") from self._fatal
        if self._supervisor is None or self._supervisor.done():
            raise ModemUnavailable(f"modem is {self.state.value} ({self.state_reason})")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ready_waiters.add(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except SimPinError as exc:
            raise ModemUnavailable(f"modem is down ({self.state_reason})") from exc
        except TimeoutError:
            raise ModemUnavailable(
                f"not ready within {timeout:g} s ({self.state_reason})"
            ) from None
        finally:
            self._ready_waiters.discard(waiter)

    async def stop(self) -> None:
        """Stop supervising and close the port; nothing of this modem keeps running."""
        self._stopping = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and not supervisor.done():
            supervisor.cancel()
            # asyncio.wait: our own caller's cancellation still propagates.
            done, _ = await asyncio.wait({supervisor}, timeout=STOP_TIMEOUT)
            if not done:
                log.warning("%s: supervision did not stop within %g s", self.name, STOP_TIMEOUT)
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        self._release_waiters(ModemUnavailable("modem stopped"))
        self._set_state(ModemState.CLOSED, "stopped")
        self._stopping = False

    # ---- operations -----------------------------------------------------------------

    async def send(self, pdu: SubmitPdu) -> int:
        """Send one segment; returns its TP-MR. SendUnknown when the answer was lost."""
        session = self._ready_session()
        log.debug(
            "%s: sending segment %d/%d (%d octets)",
            self.name,
            pdu.sequence,
            pdu.total,
            pdu.tpdu_length,
        )
        return await session.engine.send_pdu(
            pdu.tpdu_length,
            pdu.hex,
            prompt_seconds=self.settings.prompt_timeout or self.profile.prompt_timeout,
            result_seconds=self.settings.cmgs_timeout or self.profile.cmgs_timeout,
        )

    def next_concat_reference(self) -> int:
        """An 8-bit concatenation reference (0-255) for this modem's next multipart text.

        Rotating per modem, as a handset does: the recipient tells parts apart by sender
        and reference, so 256 multipart texts in flight to one number before a repeat.
        """
        self._concat_reference = (self._concat_reference + 1) % 256
        return self._concat_reference

    async def delete(self, location: StoredLocation) -> bool:
        """Free a stored message; call only after it was committed (invariant 2).

        Only a location this open of the port handed out is deleted: after a reopen (or
        with another stick on the same path) the slot may hold a message nobody has
        committed yet. A stale location is left alone (False); the next sweep offers
        whatever it holds again, and the gateway's de-duplication makes that harmless.
        True once the slot is free.
        """
        session = self._ready_session()
        if location not in session.emitted:
            log.info("%s: not deleting %s/%d: not handed out by this open", self.name,
                     location.memory, location.index)  # fmt: skip
            return False
        async with session.storage:
            await session.use_memory(location.memory)
            await _delete_slot(session, location.index)
            # Under the storage lock: a +CMTI for the freed slot is read after this.
            session.emitted.discard(location)
        return True

    async def acknowledge(self, ack: RoutedAck) -> None:
        """AT+CNMA for a routed message; call only after it was committed.

        Acks go out in the order the messages came (the network pairs them that way), so
        the gateway acknowledges each before it handles the next event. An ack for an
        earlier open of the port is dropped: that modem is gone, and the network delivers
        the message again (a duplicate the gateway's de-duplication absorbs). An ack the
        modem calls too late is handled as ``_acknowledge`` says.
        """
        session = self._ready_session()
        if ack.generation != session.generation or session.unacked.pop(ack.number, None) is None:
            log.info("%s: acknowledgement for an earlier open dropped", self.name)
            return
        await self._acknowledge(session)

    async def health(self) -> Health:
        """A snapshot for the status page; a command the firmware lacks reads as unknown.

        Registration is the best of CREG/CGREG/CEREG: LTE-only modems can show CS as
        searching while EPS is registered and SMS still flows.
        """
        session = self._ready_session()
        prio = CommandPriority.HEALTH
        rssi = replies.signal(replies.find_body(await session.run("AT+CSQ", prio), "+CSQ:") or "")
        best = await self._poll_registration(session, prio)
        cops = replies.find_body(await session.optional("AT+COPS?", prio), "+COPS:")
        operator, cops_act = replies.operator(cops) if cops is not None else (None, None)
        cpin = replies.find_body(await session.optional("AT+CPIN?", prio), "+CPIN:")
        cpms = replies.find_body(await session.optional("AT+CPMS?", prio), "+CPMS:")
        counts = replies.storage_counts(cpms) if cpms is not None else []
        used, total = counts[-1] if counts else (None, None)  # <mem3>: where SMS arrive
        act = best[1] if best is not None and best[1] is not None else cops_act
        return Health(
            signal_dbm=replies.rssi_to_dbm(rssi),
            csq=rssi,
            registration=best[0] if best is not None else Registration.UNKNOWN,
            technology=replies.TECHNOLOGY_BY_ACT.get(act) if act is not None else None,
            operator=operator,
            sim=replies.sim_state(cpin) if cpin is not None else "unknown",
            storage_used=used,
            storage_total=total,
            noise_bytes=self.stats.noise_bytes,
            noise_lines=self.stats.noise_lines,
        )

    async def _poll_registration(
        self, session: Session, priority: CommandPriority
    ) -> tuple[Registration, int | None] | None:
        """AT+CREG?/CGREG?/CEREG?: the best domain (with its AcT); updates ``registration``."""
        best: tuple[Registration, int | None] | None = None
        for command, prefix in REGISTRATION_QUERIES:
            text = replies.find_body(await session.optional(command, priority), prefix)
            parsed = replies.registration(text, query=True) if text is not None else None
            if parsed is None:
                continue
            self._domains[prefix] = parsed[0]
            if best is None or (
                replies.REGISTRATION_RANK[parsed[0]] > replies.REGISTRATION_RANK[best[0]]
            ):
                best = parsed
        self._registration_changed()
        return best

    def _registration_changed(self) -> None:
        """Recompute the best domain; after READY, a change is a NetworkChanged event."""
        if not self._domains:
            return
        best = max(self._domains.values(), key=replies.REGISTRATION_RANK.__getitem__)
        if best is self.registration:
            return
        self.registration = best
        if self.state is ModemState.READY:
            log.info("%s: registration %s", self.name, best.value)
            self.events.put_nowait(NetworkChanged(registration=best, signal_dbm=None))

    async def ussd(self, code: str) -> UssdReply:
        """Run a USSD request (``*100#``) and wait for the network's +CUSD answer."""
        if not USSD_CODE.fullmatch(code):
            raise ValueError("a USSD code is made of digits, *, # and +")
        session = self._ready_session()
        if session.ussd_waiter is not None:
            raise UssdError("a USSD request is already running")
        waiter: asyncio.Future[tuple[int, str | None, int | None]]
        waiter = asyncio.get_running_loop().create_future()
        session.ussd_waiter = waiter
        try:
            # expect=(): the +CUSD answer is a URC even if it overtakes the OK.
            await session.engine.command(
                f'AT+CUSD=1,"{code}",15',
                seconds=self.settings.command_timeout,
                priority=CommandPriority.HEALTH,
                expect=(),
            )
            try:
                async with asyncio.timeout(self.settings.ussd_timeout):
                    status, text, dcs = await waiter
            except TimeoutError:
                raise UssdError(f"no USSD answer within {self.settings.ussd_timeout:g} s") from None
        finally:
            session.ussd_waiter = None
        if status in (4, 5) or (text is None and status != 2):
            raise UssdError(f"USSD request ended with status {status}")
        decoded = decode_ussd(
            text or "", dcs if dcs is not None else 15, packed=self.profile.ussd_packed
        )
        return UssdReply(status=status, text=decoded, dcs=dcs)

    async def reset(self) -> None:
        """Reboot the modem (AT+CFUN=1,1) and reopen it by the same path, as after an unplug."""
        session = self._session
        if session is None or session.lost.is_set():
            raise ModemUnavailable(f"modem is {self.state.value}")
        await self._send_reset(session, self.settings.command_timeout)
        session.mark_lost("reset")

    async def _send_reset(self, session: Session, seconds: float) -> None:
        """AT+CFUN=1,1; ``reset_accepted`` when the modem took it (its port will vanish)."""
        if session.engine.closed:
            return
        session.resetting = True
        try:
            await session.engine.command(
                self.profile.reset_command,
                seconds=seconds,
                priority=CommandPriority.RESET,
                realign=False,
                escape_first=True,  # a modem at a prompt would take the reset as text
            )
            session.reset_accepted = True
        except ModemDisconnected:
            session.reset_accepted = True  # gone before its OK was read: under way
        except DriverError as exc:
            log.warning("%s: reset command failed (%s); reopening anyway", self.name, exc.code)

    async def _hard_reset(self, session: Session) -> None:
        """The rung after a re-initialise that did not cure a hang, on the still-open port.

        Some modems still take AT+CFUN=1,1 when AT+CMGS hangs; a silent one does not, and
        is reopened all the same. The session's own tasks stop first so that none of their
        commands goes ahead of the reset; callers' commands queued behind it fail with
        ModemDisconnected when the session closes right after (their PDU was never written).
        """
        self._set_state(ModemState.DOWN, HARD_RESET, announce=True)
        log.warning("%s: still unresponsive after a re-initialise; hard reset", self.name)
        await session.stop_tasks()
        await self._send_reset(session, min(HARD_RESET_TIMEOUT, self.settings.command_timeout))
        if not session.reset_accepted:
            log.warning("%s: hard reset not answered; reopening", self.name)

    async def command(self, line: str, timeout: float | None = None) -> list[str]:  # noqa: ASYNC109
        """Technician passthrough: one AT command between sends; its information lines.

        Refused with PassthroughRefused (a ValueError) by the rule in ``drivers.passthrough``:
        commands that open a ``> `` text entry (AT+CMGS, AT+CMGW, AT+CMGC, chained ones too)
        are only for ``send``.
        """
        check_passthrough(line)
        session = self._ready_session()
        return await session.engine.command(
            line,
            seconds=timeout if timeout is not None else self.settings.command_timeout,
            priority=CommandPriority.TECHNICIAN,
        )

    # ---- supervision ----------------------------------------------------------------

    async def _supervise(self) -> None:
        settings = self.settings
        loop = asyncio.get_running_loop()
        ladder = HangLadder(settings.unresponsive_window)
        delay = settings.reconnect_min
        try:
            while True:
                self._generation += 1
                session = Session(
                    settings,
                    self.profile,
                    name=self.name,
                    stats=self.stats,
                    on_urc=self._on_urc,
                    generation=self._generation,
                )
                self._session = session
                reason = "open_failed"
                was_ready = False
                try:
                    try:
                        await self._bring_up(session)
                        was_ready = True
                        await session.lost.wait()
                        reason = session.reason
                    except SimPinError as exc:
                        self._fatal = exc
                        reason = "sim_pin"
                    except CommandTimeout as exc:
                        reason = session.reason or UNRESPONSIVE  # no answer while bringing up
                        log.warning("%s: bring-up failed (%s)", self.name, exc.code)
                    except DriverError as exc:
                        reason = session.reason or exc.code
                        log.warning("%s: bring-up failed (%s)", self.name, exc.code)
                    except Exception:
                        reason = session.reason or "internal_error"
                        log.exception("%s: bring-up failed", self.name)
                    now = loop.time()
                    silent = reason == UNRESPONSIVE
                    if silent and ladder.unresponsive(now):
                        await self._hard_reset(session)
                        reason = HARD_RESET
                    if was_ready and not (silent and ladder.persisting(now)):
                        delay = settings.reconnect_min
                finally:
                    self._session = None
                    if not self._stopping:
                        self._set_state(ModemState.DOWN, reason, announce=reason == UNRESPONSIVE)
                    await session.close()
                if self._fatal is not None:
                    self._release_waiters(self._fatal)
                    return  # a locked SIM needs a person: no retry burns PIN attempts
                log.info("%s: reopening in %.3g s", self.name, delay)
                if session.reset_accepted and self.profile.reset_reenumerates:
                    await self._wait_vanished()
                await asyncio.sleep(delay)  # backoff: a modelled delay, not a synchronisation
                await self._wait_for_port()
                delay = min(delay * 2, settings.reconnect_max)
        finally:
            self._session = None

    async def _wait_for_port(self) -> None:
        """A vanished device path comes back under the same name after a replug."""
        if is_url(self.settings.port):
            return
        # No udev events without extra dependencies: poll (modem-protocol.md §2.3).
        while not _port_present(self.settings.port):  # noqa: ASYNC110
            await asyncio.sleep(self.settings.path_poll_interval)

    async def _wait_vanished(self) -> None:
        """After AT+CFUN=1,1 the port re-enumerates: do not reopen the dying one.

        Done when the path is gone or names another node than the one we opened.
        """
        if is_url(self.settings.port):
            return
        poll = min(self.settings.path_poll_interval, VANISH_POLL_INTERVAL)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.boot_timeout):
                while _port_identity(self.settings.port) == self._opened_identity:  # noqa: ASYNC110
                    await asyncio.sleep(poll)

    async def _bring_up(self, session: Session) -> None:
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                await session.link.open()
        except TimeoutError:
            raise ModemUnavailable(f"port did not open within {OPEN_TIMEOUT:g} s") from None
        if not is_url(self.settings.port):
            self._opened_identity = _port_identity(self.settings.port)
        await bringup.wait_boot(session)
        session.booting = False
        identity = await bringup.initialise(session)
        self.profile = session.profile
        self._domains.clear()  # this open's own view, before READY (so no event for it)
        await self._poll_registration(session, CommandPriority.RESET)
        previous, self.identity = self.identity, identity
        reason = "initialised"
        if previous is not None and previous.imei != identity.imei:
            reason = "identity_changed"
            log.warning("%s: a different modem answers on this port", self.name)
        session.spawn(self._urc_worker(session), "urcs")
        self._set_state(ModemState.READY, reason)
        session.spawn(self._sweeper(session), "sweep")
        mt, ds = session.routing
        if session.cnma_required and (mt in (2, 3) or ds == 1):  # +CMT or +CDS, acked
            session.spawn(self._routing_watch(session), "routing")

    # ---- inbound ----------------------------------------------------------------------

    async def _sweep(self, session: Session) -> None:
        """AT+CMGL=4 over the receive (and report) memory: what arrived while away."""
        memories = [session.receive_memory, session.report_memory]
        async with session.storage:
            for memory in dict.fromkeys(m for m in memories if m is not None):
                await session.use_memory(memory)
                try:
                    lines = await session.run("AT+CMGL=4", CommandPriority.READ)
                except (CmsError, CmeError) as exc:
                    log.info("%s: listing %s failed (%s)", self.name, memory, exc.code)
                    continue
                stored = replies.listed(lines)
                if stored:
                    log.info("%s: %d stored in %s", self.name, len(stored), memory)
                for index, stat, pdu_hex in stored:
                    if _outgoing(stat, pdu_hex):
                        await self._delete_outgoing(session, memory, index)
                        continue
                    location = StoredLocation(memory, index, session.generation)
                    if self._emit(session, pdu_hex, location, last_try=False):
                        continue
                    try:
                        await self._read_again(session, location)
                    except (CmsError, CmeError) as exc:
                        log.info("%s: reading %s again failed (%s)", self.name, memory, exc.code)
            if session.receive_memory is not None:
                await session.use_memory(session.receive_memory)

    async def _delete_outgoing(self, session: Session, memory: str, index: int) -> None:
        """Free a slot holding an outgoing message another program left (we never store
        ours): nothing else would, and enough of them fill the storage that inbound texts
        need. Callers hold ``storage``, with ``memory`` selected."""
        await _delete_slot(session, index)
        self.stats.stored_outgoing_deleted += 1
        log.info("%s: deleted an outgoing message left in %s/%d", self.name, memory, index)

    async def _sweeper(self, session: Session) -> None:
        """Sweep once when READY, then every ``sweep_interval`` for missed indications."""
        while True:
            try:
                await self._sweep(session)
                await self._rearm_routing(session)
            except DriverError as exc:
                log.warning("%s: sweep failed (%s)", self.name, exc.code)
            await asyncio.sleep(self.settings.sweep_interval)  # a period, not a wait

    async def _rearm_routing(self, session: Session) -> None:
        """Routed messages never acknowledged (see ``ACK_GIVEN_UP``): set routing again."""
        cutoff = asyncio.get_running_loop().time() - ACK_GIVEN_UP
        stale = [number for number, at in session.unacked.items() if at < cutoff]
        if not stale or session.indications is None:
            return
        for number in stale:
            del session.unacked[number]
        log.warning("%s: %d routed message(s) never acknowledged; indications set again",
                    self.name, len(stale))  # fmt: skip
        await session.run(session.indications, CommandPriority.READ)

    async def _routing_watch(self, session: Session) -> None:
        """Routing switched off behind our back: a routed message of an earlier open (a
        process killed before its AT+CNMA) was never acknowledged, and the modem gave up
        on it after this open had set routing. Nothing of ours is pending, so only asking
        tells; until routing is set again, reports are dropped by the modem."""
        while True:
            await asyncio.sleep(self.settings.routing_check_interval)  # a period, not a wait
            try:
                body = replies.find_body(
                    await session.optional("AT+CNMI?", CommandPriority.HEALTH), "+CNMI:"
                )
                now = replies.cnmi_routing(body) if body is not None else None
                if now is None or now == session.routing or session.indications is None:
                    continue  # unknown, or <mt> and <ds> as set
                log.warning("%s: the modem switched routing off; indications set again", self.name)
                await session.run(session.indications, CommandPriority.READ)
            except DriverError as exc:
                log.info("%s: routing check failed (%s)", self.name, exc.code)

    async def _urc_worker(self, session: Session) -> None:
        while True:
            urc = await session.urcs.get()
            try:
                if urc.name in STORED_INDICATIONS:
                    await self._read_indicated(session, urc)
                elif urc.pdu is not None:
                    self._emit(session, urc.pdu, None, ack=self._routed_ack(session))
            except DriverError as exc:
                log.warning("%s: handling %s failed (%s)", self.name, urc.name, exc.code)

    def _routed_ack(self, session: Session) -> RoutedAck | None:
        """The token for a routed message the network waits to hear about (CSMS 1)."""
        if not session.cnma_required:
            return None  # service 0: the modem acknowledged it on arrival
        session.routed += 1
        session.unacked[session.routed] = asyncio.get_running_loop().time()
        return RoutedAck(session.generation, session.routed)

    async def _acknowledge(self, session: Session) -> None:
        """AT+CNMA for a routed +CMT/+CDS (CSMS service 1).

        An ack that comes too late (after a slow commit, or behind a send for the whole
        CMGS time) answers +CMS ERROR: 340, and the modem has by then switched routing off
        (CNMI <mt> and <ds> set to 0, TS 27.005 +CNMI): set the indications again, or nothing
        more arrives until the next reopen.
        """
        try:
            await session.run("AT+CNMA", CommandPriority.READ)
        except CmsError as exc:
            if exc.number != CNMA_NOT_EXPECTED_CMS or session.indications is None:
                raise
            log.warning("%s: acknowledgement came too late; indications set again", self.name)
            await session.run(session.indications, CommandPriority.READ)

    async def _read_indicated(self, session: Session, urc: Urc) -> None:
        parsed = replies.indication(urc.value)
        if parsed is None:
            log.warning("%s: unparsable %s", self.name, urc.name)
            return
        location = StoredLocation(*parsed, session.generation)
        if not self.profile.valid_index(location.index):
            return
        async with session.storage:
            if location in session.emitted:
                return  # already handed out (by a sweep) and not yet deleted
            await session.use_memory(location.memory)
            pdu_hex = await self._read_slot(session, location)
            if pdu_hex is not None and not self._emit(session, pdu_hex, location, last_try=False):
                await self._read_again(session, location)

    async def _read_slot(self, session: Session, location: StoredLocation) -> str | None:
        """AT+CMGR of a slot in the selected memory; None when it is empty or gone."""
        try:
            lines = await session.run(f"AT+CMGR={location.index}", CommandPriority.READ)
        except CmsError as exc:
            if exc.number in GONE_INDEX_CMS:
                return None
            raise
        return replies.read_pdu(lines)

    async def _read_again(self, session: Session, location: StoredLocation) -> None:
        """Once more, for a PDU that did not decode: noise on the line can cut one short,
        while the copy in storage is whole. Callers hold ``storage``, memory selected."""
        self.stats.pdu_rereads += 1
        pdu_hex = await self._read_slot(session, location)
        if pdu_hex is not None:
            self._emit(session, pdu_hex, location)

    def _emit(
        self,
        session: Session,
        pdu_hex: str,
        location: StoredLocation | None,
        *,
        last_try: bool = True,
        ack: RoutedAck | None = None,
    ) -> bool:
        """Hand a PDU out as an event; False when it does not decode and may be read again.

        On the last try an undecodable PDU is handed out as such (``UndecodablePdu``), so
        the gateway keeps it sealed and frees the slot instead of it filling storage.
        """
        if location is not None and location in session.emitted:
            return True
        event: ModemEvent
        try:
            decoded = decode(pdu_hex)
        except PduError:
            self.stats.undecodable_pdus += 1
            if not last_try:
                return False
            log.warning("%s: undecodable PDU (%d chars) handed out raw", self.name, len(pdu_hex))
            event = UndecodablePdu(pdu_hex=pdu_hex, location=location, ack=ack)
        else:
            if isinstance(decoded, Deliver):
                event = InboundMessage(pdu_hex, decoded, location, ack)
            elif isinstance(decoded, StatusReport):
                event = StatusReportReceived(pdu_hex, decoded, location, ack)
            else:
                return True  # a stored outgoing message: not ours to report
        if location is not None:
            session.emitted.add(location)
        self.events.put_nowait(event)
        return True

    def _on_urc(self, session: Session, urc: Urc) -> None:
        name = urc.name
        if name in STORED_INDICATIONS or name in ROUTED:
            session.urcs.put_nowait(urc)
        elif name in BOOT_MARKERS:
            if session.booting:
                session.boot_started = True
            elif self.state is ModemState.READY:
                session.mark_lost("rebooted")  # settings like CNMI are gone with it
        elif name in REGISTRATION_URCS:
            parsed = replies.registration(urc.value, query=False)
            if parsed is not None:
                self._domains[name] = parsed[0]
                self._registration_changed()
        elif name == "^RSSI:":
            rssi = replies.rssi_urc(urc.value)
            self.events.put_nowait(
                NetworkChanged(registration=None, signal_dbm=replies.rssi_to_dbm(rssi))
            )
        elif name == "+CUSD:":
            waiter = session.ussd_waiter
            parsed_ussd = replies.ussd(urc.value)
            if waiter is not None and not waiter.done() and parsed_ussd is not None:
                waiter.set_result(parsed_ussd)
        if urc.line in session.profile.boot_lines:
            session.boot_line.set()

    # ---- helpers ----------------------------------------------------------------------

    def _ready_session(self) -> Session:
        session = self._session
        if self.state is not ModemState.READY or session is None or session.lost.is_set():
            raise ModemUnavailable(f"modem is {self.state.value} ({self.state_reason})")
        return session

    def _set_state(self, state: ModemState, reason: str, *, announce: bool = False) -> None:
        """``announce``: a new reason within the same state is news too (hang ladder)."""
        if state is self.state and not (announce and reason != self.state_reason):
            return
        self.state = state
        self.state_reason = reason
        log.info("%s: %s (%s)", self.name, state.value, reason)
        self.events.put_nowait(StateChanged(state=state, reason=reason))
        if state is ModemState.READY:
            self._release_waiters(None)

    def _release_waiters(self, exc: DriverError | None) -> None:
        waiters, self._ready_waiters = self._ready_waiters, set()
        for waiter in waiters:
            if waiter.done():
                continue
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)


def _outgoing(stat: int | None, pdu_hex: str) -> bool:
    """An SMS-SUBMIT in storage: by its listed <stat>, or, where a firmware lists none,
    by what the PDU decodes to."""
    if stat is not None:
        return stat in STORED_OUTGOING_STATS
    try:
        return not isinstance(decode(pdu_hex), Deliver | StatusReport)
    except PduError:
        return False
