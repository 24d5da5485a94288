"""One modem's supervisor: its send worker, event consumer, health poll and balance check.

The supervisor is the only writer of its modem's state on the ``ModemHandle``: the
driver's state and reason, identity, the hold out of rotation, ``stopping``, the health
poll's and balance check's results. The event consumer reports state and registration
changes to it; the worker (send counters) and the consumer (last seen, network changes)
add only observations.
Starting a modem is starting its supervisor; stopping it stops all of that, bounded.

Escalation is the driver's alone (re-initialise, then a hard reset, then down with a
growing backoff: ``drivers.modem.HangLadder``). The gateway never resets a modem by
policy; it only keeps a modem out of rotation while the driver says it is not ready,
while it is not registered (a +CREG/+CEREG URC, a poll, or its state at READY), or
after a send or a health poll met a SIM, modem or network fault (a SIM that may not
send, or a modem that missed a deadline, stays ready in the driver). A held modem is probed with a
backoff that starts at ``probe_initial`` and doubles up to ``fault_hold``; it is back
as soon as a probe finds it registered and answering (a network hold also ends with a
"registered" URC). A technician's reset is a request, run here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

from drivers.errors import CommandTimeout, DriverError
from drivers.types import ModemState, NetworkChanged, Registration, StateChanged, UssdReply
from gateway.consent.desk import ConsentDesk
from gateway.core.policy import Action, Classified
from gateway.errors import StoreError, Unavailable
from gateway.fleet import balance, passthrough
from gateway.fleet.dispatch import Dispatcher
from gateway.fleet.handle import REGISTRATION_HOLD, ModemHandle
from gateway.fleet.identity import IDENTITY_MISMATCH_EVENT, Mismatch, check_identity
from gateway.fleet.modem_events import InboundHook, ModemEvents
from gateway.metrics import Metrics
from gateway.store.base import Store

log = logging.getLogger(__name__)

# All durations in seconds.
HEALTH_INTERVAL: Final = 60.0  # how often a ready modem's signal and registration are read
HEALTH_DEADLINE: Final = 30.0  # bound on one health poll
PROBE_INITIAL: Final = 2.0  # first probe of a modem out of rotation; the wait then doubles
FAULT_HOLD: Final = 300.0  # the longest wait between two probes of a modem out of rotation
RESET_DEADLINE: Final = 60.0  # bound on a reset a technician asked for
STOP_GRACE: Final = 15.0  # the segment in flight may finish within this on shutdown
MODEM_STOP_DEADLINE: Final = 10.0  # bound on closing one modem
FAULT_EVENT: Final = "modem.fault"
NETWORK: Final = "network"  # held while not registered
FAULT: Final = "fault"  # held after a send met a SIM, modem or network fault
MISSED_HEALTH_POLL: Final = Classified(
    Action.MODEM_FAULT, CommandTimeout.code, "modem missed a health poll's deadline", False, True
)
WELL_SIM: Final = frozenset({"ready", "unknown"})  # "unknown": the firmware lacks AT+CPIN?
RESET_EVENT: Final = "modem.reset"
HEALTH_TIMEOUT: Final = "health_timeout"  # the poll's own bound ended it, not the driver's
RESET_TIMEOUT: Final = "reset_timeout"  # a technician's reset ran past its bound


def _failure(
    exc: DriverError | TimeoutError, deadline: float, timeout_code: str = HEALTH_TIMEOUT
) -> str:
    """A poll's, probe's or reset's failure for the log: its stable code and class, and
    its text (a bare TimeoutError has none, so the bound it hit is named instead)."""
    code = exc.code if isinstance(exc, DriverError) else timeout_code
    text = str(exc) or f"no answer within {deadline:g} s"
    return f"{code} ({type(exc).__name__}: {text})"


@dataclass(frozen=True, slots=True)
class SupervisorSettings:
    health_interval: float = HEALTH_INTERVAL
    health_deadline: float = HEALTH_DEADLINE
    fault_hold: float = FAULT_HOLD
    probe_initial: float = PROBE_INITIAL
    reset_deadline: float = RESET_DEADLINE
    stop_grace: float = STOP_GRACE
    modem_stop_deadline: float = MODEM_STOP_DEADLINE


def probe_delay(settings: SupervisorSettings, step: int) -> float:
    """The wait before the ``step``-th probe (from 1): ``probe_initial``, doubling, capped
    at ``fault_hold``. Short first, so a modem whose fault cleared is back in seconds; long
    later, so a SIM that stays barred costs one bounced message per ``fault_hold``."""
    return min(settings.fault_hold, settings.probe_initial * 2.0 ** min(max(step, 1) - 1, 32))


class ModemSupervisor:
    """Runs one modem; ``start`` and ``stop`` are its whole lifecycle."""

    def __init__(
        self,
        handle: ModemHandle,
        *,
        store: Store,
        dispatcher: Dispatcher,
        metrics: Metrics,
        settings: SupervisorSettings,
        consent: ConsentDesk | None = None,
        clock: Callable[[], float] = time.time,
        on_inbound: InboundHook | None = None,
    ) -> None:
        self.handle = handle
        self._store = store
        self._dispatcher = dispatcher
        self._metrics = metrics
        self.settings = settings
        self._clock = clock
        self._health_poke = asyncio.Event()
        self._probe_now = asyncio.Event()
        self._probing = False
        self._hold_kind: str | None = None  # NETWORK or FAULT while the modem is held
        self._strikes = 0  # faults in a row without a segment sent in between
        self._sent_at_fault = -1
        self._worker: asyncio.Task[None] | None = None
        self.tasks: list[asyncio.Task[None]] = []  # everything but the worker
        self.events = ModemEvents(
            handle,
            store,
            on_state=self._on_state,
            on_network=self._on_network,
            metrics=metrics,
            consent=consent,
            clock=clock,
            on_inbound=on_inbound,
        )

    @property
    def name(self) -> str:
        return self.handle.name

    async def start(self) -> None:
        """Start the driver, then the event consumer, health poll, balance check (when
        configured) and the send worker."""
        handle = self.handle
        self._dispatcher.add_modem(handle, self.fault)
        self._metrics.watch_modem_counters(self.name, handle.modem.stats)
        await handle.modem.start()
        handle.state = handle.modem.state
        self._state_changed()
        self._spawn(self.events.run(), f"events-{self.name}")
        self._spawn(self._health_loop(), f"health-{self.name}")
        configured = handle.config.balance
        if configured is not None:
            self._spawn(
                balance.balance_loop(
                    handle,
                    configured,
                    lambda code: passthrough.run_ussd(handle, None, code, "daemon"),
                    self._record_balance,
                ),
                f"balance-{self.name}",
            )
        self._worker = asyncio.get_running_loop().create_task(
            self._dispatcher.worker(handle), name=f"worker-{self.name}"
        )

    def stop_taking_work(self) -> None:
        """First step of a stop: the scheduler hands this modem nothing more."""
        self.handle.stopping = True
        self._dispatcher.update_ready(self.handle)

    async def stop(self) -> None:
        """Bounded: the segment in flight may finish within ``stop_grace``, then the
        loops are cancelled and the driver is closed within ``modem_stop_deadline``."""
        self.stop_taking_work()
        await self._stop_worker()
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks.clear()
        try:
            async with asyncio.timeout(self.settings.modem_stop_deadline):
                await self.handle.modem.stop()
        except Exception as exc:
            log.warning("stopping modem %s: %s", self.name, exc)

    async def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        if not self.handle.busy:
            worker.cancel()
        done, _ = await asyncio.wait({worker}, timeout=self.settings.stop_grace)
        if not done:
            log.warning("%s still busy after %g s; cancelling", worker.get_name(),
                        self.settings.stop_grace)  # fmt: skip
            worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker

    # the modem's state: written here only -------------------------------------------

    def fault(self, why: Classified) -> None:
        """A send met a SIM, modem or network fault: out of rotation at once (its work
        moves elsewhere), back when a probe finds the modem well. Faults in a row with
        nothing sent in between start the probes later. No reset: that is the driver's."""
        handle = self.handle
        if handle.sent_total != self._sent_at_fault:
            self._strikes = 0  # it sent since the last fault: a fresh start
        self._sent_at_fault = handle.sent_total
        self._strikes += 1
        first = self._hold(FAULT, f"fault: {why.code}", self._strikes)
        log.warning("modem %s out of rotation, first probe in %g s: %s", self.name, first,
                    why.text)  # fmt: skip
        self._spawn(self._record_fault(why, first), f"fault-{self.name}")

    async def _record_fault(self, why: Classified, first_probe: float) -> None:
        try:
            await self._store.add_event(
                FAULT_EVENT, self.name, {"code": why.code, "probe_in": first_probe}
            )
        except Exception:
            log.exception("could not record the fault of modem %s", self.name)

    def _on_network(self, event: NetworkChanged) -> None:
        if event.registration is not None:
            self._registration(event.registration)

    def _registration(self, registration: Registration) -> None:
        """Not registered: out of rotation now. Registered: back, if that was the only
        trouble; a fault hold is probed at once instead (the fault may not be the network)."""
        if registration.registered or registration is Registration.UNKNOWN:
            if self._hold_kind == NETWORK:
                self._end_hold(f"registration {registration.value}")
            elif self._hold_kind == FAULT:
                self._probe_now.set()
            return
        if self._hold_kind == FAULT:
            return  # already out; the probe checks registration too
        if self._hold_kind is None:
            log.warning("modem %s out of rotation: registration %s", self.name,
                        registration.value)  # fmt: skip
        self._hold(NETWORK, f"{REGISTRATION_HOLD}{registration.value}", 1)

    def _hold(self, kind: str, reason: str, step: int) -> float:
        """Out of rotation now; the probes start at ``step`` of the backoff unless they
        are already running. Returns the wait before the first probe that step means."""
        handle = self.handle
        handle.hold_reason = reason
        self._hold_kind = FAULT if FAULT in (kind, self._hold_kind) else kind
        delay = probe_delay(self.settings, step)
        if not self._probing:
            handle.held_until = self._clock() + delay
            self._probing = True
            self._spawn(self._probe_loop(step), f"probe-{self.name}")
        self._dispatcher.update_ready(handle)
        return delay

    def _end_hold(self, why: str) -> None:
        handle = self.handle
        was_held = handle.hold_reason is not None
        handle.held_until = 0.0
        handle.hold_reason = None
        self._hold_kind = None
        self._probe_now.set()  # the probe loop sees the hold is over and ends
        self._dispatcher.update_ready(handle)
        if was_held:
            log.info("modem %s back in rotation: %s", self.name, why)

    async def _probe_loop(self, step: int) -> None:
        """Probe the held modem after ``probe_delay(step)``, then step by step of the
        backoff; a READY or a "registered" URC probes at once."""
        try:
            while self._held():
                self._probe_now.clear()
                delay = probe_delay(self.settings, step)
                self.handle.held_until = self._clock() + delay
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._probe_now.wait()
                if not self._held():
                    return
                if await self._probe():
                    self._end_hold("a probe found it registered and answering")
                    return
                step += 1
        finally:
            self._probing = False

    def _held(self) -> bool:
        return self.handle.hold_reason is not None

    async def _probe(self) -> bool:
        """One health poll: the modem answers, is registered (or cannot say), SIM ready."""
        handle = self.handle
        if handle.state is not ModemState.READY or handle.stopping:
            return False
        try:
            async with asyncio.timeout(self.settings.health_deadline):
                health = await handle.modem.health()
        except (DriverError, TimeoutError) as exc:
            log.info(
                "probe of modem %s failed: %s",
                self.name,
                _failure(exc, self.settings.health_deadline),
            )
            return False
        handle.health = health
        handle.seen(self._clock())
        registered = health.registration.registered or health.registration is Registration.UNKNOWN
        return registered and health.sim in WELL_SIM

    def release(self) -> None:
        """End a hold early (a technician asked for it)."""
        self._end_hold("released")

    def reset(self) -> None:
        """A technician's reset: the hold ends, the driver reboots the modem and reopens it."""
        self._metrics.modem_reset(self.name, "manual")
        self.release()
        self._spawn(self._reset(), f"reset-{self.name}")

    async def _reset(self) -> None:
        try:
            async with asyncio.timeout(self.settings.reset_deadline):
                await self.handle.modem.reset()
        except (DriverError, TimeoutError) as exc:
            log.warning(
                "reset of modem %s failed: %s",
                self.name,
                _failure(exc, self.settings.reset_deadline, RESET_TIMEOUT),
            )
        with contextlib.suppress(Exception):
            await self._store.add_event(RESET_EVENT, self.name, {"by": "api"})

    def _on_state(self, event: StateChanged) -> None:
        handle = self.handle
        handle.state = event.state
        handle.reason = event.reason
        if event.state is ModemState.READY:
            handle.seen(self._clock())
            identity = handle.modem.identity
            if identity is not None:
                handle.identity = identity
            self._registration(handle.modem.registration)  # no URC if it did not change
        self._state_changed()

    def _state_changed(self) -> None:
        handle = self.handle
        if handle.state is ModemState.READY:
            mismatch = check_identity(handle)
            if mismatch is not None:
                self._spawn(self._record_mismatch(mismatch), f"mismatch-{self.name}")
        self._dispatcher.update_ready(handle)
        if handle.state is ModemState.READY:
            self._health_poke.set()

    async def _record_mismatch(self, mismatch: Mismatch) -> None:
        try:
            await self._store.add_event(IDENTITY_MISMATCH_EVENT, self.name, mismatch.detail())
        except (StoreError, Unavailable) as exc:
            log.warning("recording the identity of modem %s failed: %s", self.name, exc.code)

    async def _health_loop(self) -> None:
        handle, poke = self.handle, self._health_poke
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.health_interval):
                    await poke.wait()
            poke.clear()
            if handle.state is not ModemState.READY:
                continue
            try:
                async with asyncio.timeout(self.settings.health_deadline):
                    health = await handle.modem.health()
            except (DriverError, TimeoutError) as exc:
                log.info(
                    "health poll of modem %s failed: %s",
                    self.name,
                    _failure(exc, self.settings.health_deadline),
                )
                if isinstance(exc, CommandTimeout):
                    # The modem missed a command's deadline: a hang found while idle, out at
                    # once. (The outer bound alone may be a long send holding the port.)
                    self.fault(MISSED_HEALTH_POLL)
                continue
            handle.health = health
            handle.seen(self._clock())
            identity = handle.modem.identity
            if identity is not None:
                handle.identity = identity

    async def _record_balance(
        self, handle: ModemHandle, reply: UssdReply, amount: float | None
    ) -> None:
        handle.balance, handle.balance_text, handle.balance_at = amount, reply.text, self._clock()
        detail = {"amount": amount, "text": reply.text, "status": reply.status}
        try:
            await self._store.add_event(balance.BALANCE_EVENT, self.name, detail)
        except (StoreError, Unavailable) as exc:
            log.warning("recording the balance of modem %s failed: %s", self.name, exc.code)

    # technician passthrough ---------------------------------------------------------

    async def command(
        self,
        line: str,
        timeout: float | None,  # noqa: ASYNC109 - the modem's deadline, passed to the driver
        actor: str,
    ) -> list[str]:
        return await passthrough.run_command(self.handle, self._store, line, timeout, actor)

    async def ussd(self, code: str, actor: str) -> passthrough.UssdAnswer:
        """The amount is read with the modem's configured pattern when the code is its
        balance code."""
        reply = await passthrough.run_ussd(self.handle, self._store, code, actor)
        configured = self.handle.config.balance
        pattern = configured.pattern if configured and configured.ussd == code else None
        amount = balance.parse_balance(reply.text, re.compile(pattern) if pattern else None)
        return passthrough.UssdAnswer(status=reply.status, text=reply.text, balance=amount)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.append(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        if task in self.tasks:
            self.tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())
