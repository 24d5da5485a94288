"""One modem's supervisor: its send worker, event consumer, health poll and balance check.

The supervisor is the only writer of its modem's state on the ``ModemHandle``: the
driver's state and reason, identity, the fault hold, ``stopping``, the health poll's and
balance check's results. The event consumer reports state changes to it; the worker
(send counters) and the consumer (last seen, network changes) add only observations.
Starting a modem is starting its supervisor; stopping it stops all of that, bounded.

Escalation is the driver's alone (re-initialise, then a hard reset, then down with a
growing backoff: ``drivers.modem.HangLadder``). The gateway never resets a modem by
policy; it only keeps a modem out of rotation while the driver says it is not ready,
or for ``fault_hold`` after a send failed with a SIM or modem fault (a SIM that may
not send stays ready in the driver). A technician's reset is a request, run here.
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

from drivers.errors import DriverError
from drivers.types import ModemState, StateChanged, UssdReply
from gateway.core.policy import Classified
from gateway.errors import StoreError, Unavailable
from gateway.fleet import balance, passthrough
from gateway.fleet.dispatch import Dispatcher
from gateway.fleet.handle import ModemHandle
from gateway.fleet.identity import IDENTITY_MISMATCH_EVENT, Mismatch, check_identity
from gateway.fleet.modem_events import ModemEvents
from gateway.metrics import Metrics
from gateway.store.base import Store

log = logging.getLogger(__name__)

# All durations in seconds.
HEALTH_INTERVAL: Final = 60.0  # how often a ready modem's signal and registration are read
HEALTH_DEADLINE: Final = 30.0  # bound on one health poll
FAULT_HOLD: Final = 300.0  # a modem whose send met a SIM or modem fault stays out this long
RESET_DEADLINE: Final = 60.0  # bound on a reset a technician asked for
STOP_GRACE: Final = 15.0  # the segment in flight may finish within this on shutdown
MODEM_STOP_DEADLINE: Final = 10.0  # bound on closing one modem
FAULT_EVENT: Final = "modem.fault"
RESET_EVENT: Final = "modem.reset"


@dataclass(frozen=True, slots=True)
class SupervisorSettings:
    health_interval: float = HEALTH_INTERVAL
    health_deadline: float = HEALTH_DEADLINE
    fault_hold: float = FAULT_HOLD
    reset_deadline: float = RESET_DEADLINE
    stop_grace: float = STOP_GRACE
    modem_stop_deadline: float = MODEM_STOP_DEADLINE


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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.handle = handle
        self._store = store
        self._dispatcher = dispatcher
        self._metrics = metrics
        self.settings = settings
        self._clock = clock
        self._health_poke = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self.tasks: list[asyncio.Task[None]] = []  # everything but the worker
        self.events = ModemEvents(
            handle, store, on_state=self._on_state, metrics=metrics, clock=clock
        )

    @property
    def name(self) -> str:
        return self.handle.name

    async def start(self) -> None:
        """Start the driver, then the event consumer, health poll, balance check (when
        configured) and the send worker."""
        handle = self.handle
        self._dispatcher.add_modem(handle, self.fault)
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
        """A send met a SIM or modem fault: out of rotation for ``fault_hold``; its work
        moves elsewhere. No reset: recovering the modem is the driver's."""
        handle = self.handle
        hold = self.settings.fault_hold
        handle.held_until = self._clock() + hold
        handle.hold_reason = f"fault: {why.code}"
        self._dispatcher.update_ready(handle)
        log.warning("modem %s out of rotation for %g s: %s", self.name, hold, why.text)
        self._spawn(self._after_fault(why), f"fault-{self.name}")

    async def _after_fault(self, why: Classified) -> None:
        try:
            await self._store.add_event(
                FAULT_EVENT, self.name, {"code": why.code, "hold": self.settings.fault_hold}
            )
        except Exception:
            log.exception("could not record the fault of modem %s", self.name)
        await asyncio.sleep(max(0.0, self.handle.held_until - self._clock()))  # the hold itself
        self._dispatcher.update_ready(self.handle)

    def release(self) -> None:
        """End a fault hold early (a technician asked for it)."""
        self.handle.held_until = 0.0
        self.handle.hold_reason = None
        self._dispatcher.update_ready(self.handle)

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
            log.warning("reset of modem %s failed: %s", self.name, exc)
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
                log.info("health poll of modem %s failed: %s", self.name, exc)
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
