"""One modem: supervision (open, boot, init, reopen), and the operations the gateway uses.

``Modem`` has an engine, which has a transport; it never touches bytes. A named
supervision task owns the port: it opens it, waits for boot, initialises (3GPP TS 27.005
/ 27.007, modem-protocol.md §3.2), announces READY, sweeps stored messages, and reopens
with capped exponential backoff when the port goes away or stops answering (silence is
treated like an unplug). Everything the modem tells us arrives on ``events``.

Logs carry no phone numbers, message texts or PDUs: only command names, lengths, counts.
All timeouts in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from drivers import replies
from drivers.engine import AtEngine, EngineStats, Priority, command_name
from drivers.errors import (
    CmeError,
    CmsError,
    CommandError,
    CommandTimeout,
    DriverError,
    ModemDisconnected,
    ModemUnavailable,
    PduError,
    SimPinError,
    UssdError,
)
from drivers.pdu import Deliver, StatusReport, SubmitPdu, decode, decode_ussd
from drivers.quirks import AUTO, VendorProfile, detect_profile, get_profile
from drivers.transport import SerialLink, is_url
from drivers.types import (
    Health,
    Identity,
    InboundMessage,
    ModemEvent,
    ModemState,
    NetworkChanged,
    Registration,
    StateChanged,
    StatusReportReceived,
    StoredLocation,
    UssdReply,
)
from drivers.urcs import Urc

log = logging.getLogger(__name__)

T = TypeVar("T")

STOP_TIMEOUT = 10.0  # stop(): bound on tearing the supervision task down
OPEN_TIMEOUT = 10.0  # the port opens in an executor thread; a wedged kernel driver must not
CLOSE_TIMEOUT = 5.0  # hang supervision
BUSY_CME = frozenset({14, 515})  # SIM busy / please wait: normal for seconds after boot
BUSY_CMS = frozenset({314, 500, 512, 515})
GONE_INDEX_CMS = frozenset({321})  # invalid index: already deleted
GONE_INDEX_CME = frozenset({21, 22})
WRONG_PIN_CME = frozenset({11, 12, 16})  # never retried: each try burns an attempt
STORED_INDICATIONS = frozenset({"+CMTI:", "+CDSI:"})
ROUTED = frozenset({"+CMT:", "+CDS:"})
REGISTRATION_URCS = frozenset({"+CREG:", "+CGREG:", "+CEREG:"})
BOOT_MARKERS = frozenset({"RDY", "^SYSSTART"})
PROMPTING_COMMANDS = frozenset({"AT+CMGS", "AT+CMGW", "AT+CMGC"})
USSD_CODE = re.compile(r"[0-9*#+]{1,64}")


def _port_present(path: str) -> bool:
    """One stat of the device path: cheap enough for the loop, no executor needed."""
    return os.path.exists(path)


@dataclass(frozen=True, slots=True)
class ModemSettings:
    """How to reach and drive one modem. All durations in seconds."""

    port: str  # device path (prefer /dev/serial/by-id/...) or pyserial URL (socket://h:p)
    profile: str = "generic"  # quirks profile name, or "auto" (from AT+CGMI/AT+CGMM)
    pin: str | None = field(default=None, repr=False)
    smsc: str | None = None  # set AT+CSCA when the SIM's differs; None: keep the SIM's
    baudrate: int = 115200
    command_timeout: float = 10.0
    boot_timeout: float = 30.0  # open -> answering AT (and SIM/SMS ready)
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    cmgs_timeout: float | None = None  # None: the profile's (60 s SIM800, 120 s Quectel)
    prompt_timeout: float | None = None  # None: the profile's
    max_consecutive_timeouts: int = 3  # then close and reopen ("unresponsive")
    sweep_interval: float = 300.0  # AT+CMGL=4 while READY, for missed indications
    ussd_timeout: float = 30.0  # AT+CUSD request -> +CUSD answer
    boot_poll_interval: float = 1.0  # deadline of each AT probe while booting
    path_poll_interval: float = 1.0  # how often to look for a vanished device path
    message_service: int | None = None  # AT+CSMS=<n> at init; None: keep the modem's
    registration_urcs: bool = True  # AT+CREG=2 for unsolicited registration changes

    def __post_init__(self) -> None:
        for name in (
            "command_timeout",
            "boot_timeout",
            "reconnect_min",
            "reconnect_max",
            "sweep_interval",
            "ussd_timeout",
            "boot_poll_interval",
            "path_poll_interval",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.reconnect_max < self.reconnect_min:
            raise ValueError("reconnect_max must be >= reconnect_min")
        if self.max_consecutive_timeouts < 1:
            raise ValueError("max_consecutive_timeouts must be >= 1")
        get_profile(self.profile)  # raises ValueError for an unknown name


class _Session:
    """One open of the port: link, engine, and the tasks that live exactly as long."""

    def __init__(self, modem: Modem) -> None:
        self.modem = modem
        settings = modem.settings
        self.link = SerialLink(settings.port, baudrate=settings.baudrate)
        self.link.attach(self)
        self.engine = AtEngine(
            self.link, self, stats=modem.stats, extra_errors=modem.profile.error_finals
        )
        self.lost = asyncio.Event()
        self.reason = ""
        self.booting = True
        self.resetting = False  # a port loss from now on is the reset we asked for
        self.boot_started = False
        self.boot_line = asyncio.Event()
        self.urcs: asyncio.Queue[Urc] = asyncio.Queue()
        self.tasks: set[asyncio.Task[None]] = set()
        self.storage = asyncio.Lock()  # CPMS switch + read/delete must not interleave
        self.memory: str | None = None  # current <mem1>
        self.receive_memory: str | None = None
        self.report_memory: str | None = None
        self.cnma_required = False
        self.emitted: set[StoredLocation] = set()  # handed out, not yet deleted
        self.ussd_waiter: asyncio.Future[tuple[int, str | None, int | None]] | None = None

    # ByteSink (transport -> here)
    def feed(self, data: bytes) -> None:
        self.engine.feed(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.engine.connection_lost(exc)
        self.mark_lost("reset" if self.resetting else "unplugged")

    # EngineListener (engine -> here)
    def urc_received(self, urc: Urc) -> None:
        self.modem._on_urc(self, urc)

    def command_timed_out(self, consecutive: int) -> None:
        if self.booting:
            return  # probing a modem that is still starting: timeouts are expected
        log.warning("%s: command timed out (%d in a row)", self.modem.name, consecutive)
        if consecutive >= self.modem.settings.max_consecutive_timeouts:
            self.mark_lost("unresponsive")

    def mark_lost(self, reason: str) -> None:
        if not self.lost.is_set():
            self.reason = reason
            self.lost.set()

    def spawn(self, coro: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(f"modem:{self.modem.name}:{name}")
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s failed", task.get_name(), exc_info=exc)

    async def close(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        self.engine.close()
        if self.ussd_waiter is not None and not self.ussd_waiter.done():
            self.ussd_waiter.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.link.close()
        except TimeoutError:
            log.warning("%s: port close did not finish within %g s", self.modem.name, CLOSE_TIMEOUT)


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
        self._session: _Session | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._fatal: DriverError | None = None
        self._ready_waiters: set[asyncio.Future[None]] = set()
        self._stopping = False

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

    async def delete(self, location: StoredLocation) -> None:
        """Free a stored message; call only after it was committed (invariant 2)."""
        session = self._ready_session()
        async with session.storage:
            await self._use_memory(session, location.memory)
            try:
                await self._run(session, f"AT+CMGD={location.index}", Priority.READ)
            except CmsError as exc:
                if exc.number not in GONE_INDEX_CMS:
                    raise
            except CmeError as exc:
                if exc.number not in GONE_INDEX_CME:
                    raise
            # Under the storage lock: a +CMTI for the freed slot is read after this.
            session.emitted.discard(location)

    async def health(self) -> Health:
        session = self._ready_session()
        prio = Priority.HEALTH
        rssi = replies.signal(
            replies.find_body(await self._run(session, "AT+CSQ", prio), "+CSQ:") or ""
        )
        best: tuple[Registration, int | None] | None = None
        for command, prefix in (
            ("AT+CREG?", "+CREG:"),
            ("AT+CGREG?", "+CGREG:"),
            ("AT+CEREG?", "+CEREG:"),
        ):
            text = replies.find_body(await self._optional(session, command, prio), prefix)
            parsed = replies.registration(text, query=True) if text is not None else None
            if parsed is not None and (
                best is None
                or replies.REGISTRATION_RANK[parsed[0]] > replies.REGISTRATION_RANK[best[0]]
            ):
                best = parsed
        cops = replies.find_body(await self._optional(session, "AT+COPS?", prio), "+COPS:")
        operator, cops_act = replies.operator(cops) if cops is not None else (None, None)
        cpin = replies.find_body(await self._optional(session, "AT+CPIN?", prio), "+CPIN:")
        cpms = replies.find_body(await self._optional(session, "AT+CPMS?", prio), "+CPMS:")
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
        )

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
                priority=Priority.HEALTH,
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
        session.resetting = True
        try:
            await self._run(session, self.profile.reset_command, Priority.RESET)
        except ModemDisconnected:
            pass  # gone before its OK was read: the reset is under way
        except DriverError as exc:
            log.warning("%s: reset command failed (%s); reopening anyway", self.name, exc.code)
        session.mark_lost("reset")

    async def command(self, line: str, timeout: float | None = None) -> list[str]:  # noqa: ASYNC109
        """Technician passthrough: one AT command between sends; its information lines.

        Commands that open a ``> `` text entry (AT+CMGS, AT+CMGW, AT+CMGC) are refused:
        only ``send`` may hold the port in that state.
        """
        if command_name(line) in PROMPTING_COMMANDS:
            raise ValueError(f"{command_name(line)} is not available as a passthrough")
        session = self._ready_session()
        return await session.engine.command(
            line,
            seconds=timeout if timeout is not None else self.settings.command_timeout,
            priority=Priority.TECHNICIAN,
        )

    # ---- supervision ----------------------------------------------------------------

    async def _supervise(self) -> None:
        settings = self.settings
        delay = settings.reconnect_min
        try:
            while True:
                session = _Session(self)
                self._session = session
                reason = "open_failed"
                try:
                    await self._bring_up(session)
                    delay = settings.reconnect_min
                    await session.lost.wait()
                    reason = session.reason
                except SimPinError as exc:
                    self._fatal = exc
                    reason = "sim_pin"
                except DriverError as exc:
                    reason = session.reason or exc.code
                    log.warning("%s: bring-up failed (%s)", self.name, exc.code)
                except Exception:
                    reason = session.reason or "internal_error"
                    log.exception("%s: bring-up failed", self.name)
                finally:
                    self._session = None
                    if not self._stopping:
                        self._set_state(ModemState.DOWN, reason)
                    await session.close()
                if self._fatal is not None:
                    self._release_waiters(self._fatal)
                    return  # a locked SIM needs a person: no retry burns PIN attempts
                log.info("%s: reopening in %.3g s", self.name, delay)
                if reason == "reset" and self.profile.reset_reenumerates:
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
        """After AT+CFUN=1,1 the port re-enumerates: do not reopen the dying one."""
        if is_url(self.settings.port):
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.boot_timeout):
                while _port_present(self.settings.port):  # noqa: ASYNC110
                    await asyncio.sleep(self.settings.path_poll_interval)

    async def _bring_up(self, session: _Session) -> None:
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                await session.link.open()
        except TimeoutError:
            raise ModemUnavailable(f"port did not open within {OPEN_TIMEOUT:g} s") from None
        await self._wait_boot(session)
        session.booting = False
        identity = await self._initialise(session)
        previous, self.identity = self.identity, identity
        reason = "initialised"
        if previous is not None and previous.imei != identity.imei:
            reason = "identity_changed"
            log.warning("%s: a different modem answers on this port", self.name)
        session.spawn(self._urc_worker(session), "urcs")
        self._set_state(ModemState.READY, reason)
        session.spawn(self._sweeper(session), "sweep")

    async def _wait_boot(self, session: _Session) -> None:
        """Poll ``AT`` until it answers, then wait for the SMS-ready banner if one began."""
        settings = self.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.boot_timeout
        while True:
            try:
                await session.engine.command(
                    "AT", seconds=settings.boot_poll_interval, priority=Priority.RESET
                )
                break
            except CommandTimeout:
                if loop.time() >= deadline:
                    raise CommandTimeout("boot", settings.boot_timeout) from None
            except CommandError:
                break  # it answers: alive
        if session.boot_started and self.profile.boot_lines and not session.boot_line.is_set():
            try:
                async with asyncio.timeout(max(deadline - loop.time(), 0.0)):
                    await session.boot_line.wait()
            except TimeoutError:
                log.info("%s: no SMS-ready banner before the boot deadline", self.name)

    async def _initialise(self, session: _Session) -> Identity:
        await self._run(session, "ATE0")
        await self._optional(session, "AT+CMEE=1")
        await self._unlock_sim(session)
        identity = await self._read_identity(session)
        if self.settings.profile == AUTO:
            self.profile = detect_profile(identity.manufacturer, identity.model)
            log.info("%s: using the %s profile", self.name, self.profile.name)
        await self._while_busy(session, lambda: self._run(session, "AT+CMGF=0"))
        if self.settings.message_service is not None:
            await self._run(session, f"AT+CSMS={self.settings.message_service}")
        csms = replies.find_body(await self._optional(session, "AT+CSMS?"), "+CSMS:")
        service = replies.first_int(csms) if csms is not None else 0
        await self._while_busy(session, lambda: self._select_storage(session))
        cnmi = await self._while_busy(session, lambda: self._select_indications(session))
        session.cnma_required = service == 1 and (cnmi[1] in (2, 3) or cnmi[3] == 1)
        await self._check_smsc(session)
        if self.settings.registration_urcs:
            await self._optional(session, "AT+CREG=2")
        for extra in self.profile.init_extra:
            await self._optional(session, extra)
        return identity

    async def _unlock_sim(self, session: _Session) -> None:
        state = await self._sim_state(session)
        if state == "ready":
            return
        if state == "pin" and self.settings.pin:
            try:
                await self._run(session, f'AT+CPIN="{self.settings.pin}"')
            except CommandError as exc:
                if isinstance(exc, CmeError) and exc.number not in WRONG_PIN_CME:
                    raise
                raise SimPinError("the SIM rejected the configured PIN") from None
            state = await self._sim_state(session, wait_ready=True)
            if state == "ready":
                return
        if state in ("pin", "puk"):
            raise SimPinError(f"the SIM needs its {state.upper()}")
        session.reason = "sim_" + state
        raise ModemUnavailable(f"SIM not usable ({state})")

    async def _sim_state(self, session: _Session, *, wait_ready: bool = False) -> str:
        """AT+CPIN? until it answers (SIM busy after boot or a PIN is normal)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.boot_timeout
        while True:
            try:
                lines = await self._run(
                    session,
                    "AT+CPIN?",
                    final_prefix="+CPIN:" if self.profile.cpin_no_ok else None,
                )
                state = replies.sim_state(replies.find_body(lines, "+CPIN:") or "")
                if state == "ready" or not wait_ready or loop.time() >= deadline:
                    return state
            except CmeError as exc:
                if exc.number == 10:
                    return "absent"
                if exc.number not in BUSY_CME or loop.time() >= deadline:
                    raise
            await asyncio.sleep(self.settings.boot_poll_interval)  # SIM still busy

    async def _read_identity(self, session: _Session) -> Identity:
        async def value(command: str) -> str | None:
            return replies.identity_value(await self._optional(session, command))

        manufacturer = await value("AT+CGMI")
        model = await value("AT+CGMM")
        revision = await value("AT+CGMR")
        imei = await value("AT+CGSN")
        imsi = await value("AT+CIMI")
        profile = detect_profile(manufacturer, model) if self.settings.profile == AUTO else None
        iccid = None
        for command in (profile or self.profile).iccid_commands:
            iccid = await value(command)
            if iccid:
                break
        return Identity(manufacturer, model, revision, imei, imsi, iccid)

    async def _select_storage(self, session: _Session) -> None:
        test = replies.find_body(await self._optional(session, "AT+CPMS=?"), "+CPMS:")
        lists = replies.memory_lists(test) if test is not None else []
        chosen: str | None = None
        if len(lists) >= 3:
            for memory in self.profile.storage_preference:
                if memory in lists[0] and memory in lists[2]:
                    chosen = memory
                    break
        if chosen is not None:
            second = chosen if chosen in lists[1] else lists[1][0] if lists[1] else chosen
            await self._run(session, f'AT+CPMS="{chosen}","{second}","{chosen}"')
        else:
            current = replies.find_body(await self._run(session, "AT+CPMS?"), "+CPMS:") or ""
            names = replies.memory_lists(f"({current})")
            chosen = names[0][0] if names and names[0] else "SM"
        session.memory = session.receive_memory = chosen
        session.report_memory = "SR" if lists and "SR" in lists[0] else chosen

    async def _select_indications(self, session: _Session) -> tuple[int, int, int, int, int]:
        test = replies.find_body(await self._optional(session, "AT+CNMI=?"), "+CNMI:")
        allowed = replies.ranges(test) if test is not None else []
        candidates = [
            setting
            for setting in self.profile.cnmi_preference
            if len(allowed) < 5 or all(v in r for v, r in zip(setting, allowed, strict=False))
        ]
        last: CommandError | None = None
        for setting in candidates:
            try:
                await self._run(session, "AT+CNMI=" + ",".join(str(v) for v in setting))
            except CommandError as exc:
                last = exc
                continue
            return setting
        raise last or CommandError("AT+CNMI", "no acceptable setting")

    async def _check_smsc(self, session: _Session) -> None:
        current = replies.find_body(await self._optional(session, "AT+CSCA?"), "+CSCA:")
        number = current.split(",")[0].strip().strip('"') if current else ""
        wanted = self.settings.smsc
        if wanted and wanted != number:
            toa = 145 if wanted.startswith("+") else 129
            await self._run(session, f'AT+CSCA="{wanted}",{toa}')
        elif not number:
            log.warning("%s: no SMSC on the SIM; sends need one in settings", self.name)

    async def _while_busy(self, session: _Session, step: Callable[[], Awaitable[T]]) -> T:
        """Retry ``step`` while the modem says SIM/SMS busy (normal right after boot)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.boot_timeout
        while True:
            try:
                return await step()
            except (CmeError, CmsError) as exc:
                busy = BUSY_CME if isinstance(exc, CmeError) else BUSY_CMS
                if exc.number not in busy or loop.time() >= deadline:
                    raise
            await asyncio.sleep(self.settings.boot_poll_interval)  # modem asked us to wait

    # ---- inbound ----------------------------------------------------------------------

    async def _sweep(self, session: _Session) -> None:
        """AT+CMGL=4 over the receive (and report) memory: what arrived while away."""
        memories = [session.receive_memory, session.report_memory]
        async with session.storage:
            for memory in dict.fromkeys(m for m in memories if m is not None):
                await self._use_memory(session, memory)
                try:
                    lines = await self._run(session, "AT+CMGL=4", Priority.READ)
                except (CmsError, CmeError) as exc:
                    log.info("%s: listing %s failed (%s)", self.name, memory, exc.code)
                    continue
                stored = replies.listed(lines)
                if stored:
                    log.info("%s: %d stored in %s", self.name, len(stored), memory)
                for index, _, pdu_hex in stored:
                    self._emit(session, pdu_hex, StoredLocation(memory, index))
            if session.receive_memory is not None:
                await self._use_memory(session, session.receive_memory)

    async def _sweeper(self, session: _Session) -> None:
        """Sweep once when READY, then every ``sweep_interval`` for missed indications."""
        while True:
            try:
                await self._sweep(session)
            except DriverError as exc:
                log.warning("%s: sweep failed (%s)", self.name, exc.code)
            await asyncio.sleep(self.settings.sweep_interval)  # a period, not a wait

    async def _urc_worker(self, session: _Session) -> None:
        while True:
            urc = await session.urcs.get()
            try:
                if urc.name in STORED_INDICATIONS:
                    await self._read_indicated(session, urc)
                elif urc.pdu is not None:
                    self._emit(session, urc.pdu, None)
                    if session.cnma_required:
                        await self._run(session, "AT+CNMA", Priority.READ)
            except DriverError as exc:
                log.warning("%s: handling %s failed (%s)", self.name, urc.name, exc.code)

    async def _read_indicated(self, session: _Session, urc: Urc) -> None:
        parsed = replies.indication(urc.value)
        if parsed is None:
            log.warning("%s: unparsable %s", self.name, urc.name)
            return
        location = StoredLocation(*parsed)
        if not self.profile.valid_index(location.index):
            return
        async with session.storage:
            if location in session.emitted:
                return  # already handed out (by a sweep) and not yet deleted
            await self._use_memory(session, location.memory)
            try:
                lines = await self._run(session, f"AT+CMGR={location.index}", Priority.READ)
            except CmsError as exc:
                if exc.number in GONE_INDEX_CMS:
                    return
                raise
        pdu_hex = replies.read_pdu(lines)
        if pdu_hex is not None:
            self._emit(session, pdu_hex, location)

    def _emit(self, session: _Session, pdu_hex: str, location: StoredLocation | None) -> None:
        if location is not None and location in session.emitted:
            return
        try:
            decoded = decode(pdu_hex)
        except PduError:
            log.warning("%s: undecodable PDU (%d chars) left in storage", self.name, len(pdu_hex))
            return
        event: ModemEvent
        if isinstance(decoded, Deliver):
            event = InboundMessage(pdu_hex=pdu_hex, deliver=decoded, location=location)
        elif isinstance(decoded, StatusReport):
            event = StatusReportReceived(pdu_hex=pdu_hex, report=decoded, location=location)
        else:
            return  # a stored outgoing message: not ours to report
        if location is not None:
            session.emitted.add(location)
        self.events.put_nowait(event)

    async def _use_memory(self, session: _Session, memory: str) -> None:
        if session.memory != memory:
            await self._run(session, f'AT+CPMS="{memory}"', Priority.READ)
            session.memory = memory

    def _on_urc(self, session: _Session, urc: Urc) -> None:
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
                self.events.put_nowait(NetworkChanged(registration=parsed[0], signal_dbm=None))
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
        if urc.line in self.profile.boot_lines:
            session.boot_line.set()

    # ---- helpers ----------------------------------------------------------------------

    def _ready_session(self) -> _Session:
        session = self._session
        if self.state is not ModemState.READY or session is None or session.lost.is_set():
            raise ModemUnavailable(f"modem is {self.state.value} ({self.state_reason})")
        return session

    async def _run(
        self,
        session: _Session,
        command: str,
        priority: Priority = Priority.RESET,
        *,
        final_prefix: str | None = None,
    ) -> list[str]:
        return await session.engine.command(
            command,
            seconds=self.settings.command_timeout,
            priority=priority,
            final_prefix=final_prefix,
        )

    async def _optional(
        self, session: _Session, command: str, priority: Priority = Priority.RESET
    ) -> list[str]:
        """A command some firmwares lack: an error answer means "no information"."""
        try:
            return await self._run(session, command, priority)
        except CommandError:
            return []

    def _set_state(self, state: ModemState, reason: str) -> None:
        if state is self.state:
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
