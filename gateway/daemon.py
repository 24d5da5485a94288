"""The running gateway: owns the store, the modems, the workers and the HTTP API.

``Daemon`` implements ``GatewayService`` for the API and runs the lifecycle:

    start: data dir lock -> key ring -> store (open, recover) -> queue rebuilt
           from the store -> modems (built-in simulators first; for a glob port the
           devices it matches, then a discovery task: gateway.fleet.discovery) -> workers
           and event consumers -> housekeeping and key watch -> HTTP API
    stop:  discovery -> HTTP API -> workers (the segment in flight may finish, within a bound)
           -> event consumers -> modems -> store -> data dir lock

``run(config)`` runs it until SIGTERM or SIGINT. Logs carry ids, modem names and
error codes, never a number or a text (gateway.redact where one must appear).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import re
import signal
import ssl
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from aiohttp import web

from drivers.errors import DriverError
from drivers.simulator import SimulatedModem
from drivers.types import ModemState, UssdReply
from gateway.config import ApiSettings, Config, ModemConfig, SimulatorConfig
from gateway.core.policy import RetryPolicy
from gateway.core.ratelimit import RateLimiter
from gateway.core.routing import Router
from gateway.core.scheduler import Scheduler
from gateway.core.service import ModemStatus, SendRequest
from gateway.core.submission import SubmissionRules, prepare_message
from gateway.crypto import KeyRing
from gateway.errors import (
    NotFound,
    StoreError,
    Unavailable,
)
from gateway.fleet import balance, passthrough
from gateway.fleet.discovery import FamilyWatch
from gateway.fleet.dispatch import Dispatcher, DispatchSettings
from gateway.fleet.handle import ModemHandle, ModemPort
from gateway.fleet.identity import IDENTITY_MISMATCH_EVENT, Mismatch, check_identity
from gateway.fleet.modem_events import ModemEvents, release_incomplete_loop
from gateway.metrics import Metrics
from gateway.store.backend import create_store
from gateway.store.base import (
    AddResult,
    ApiKey,
    Message,
    MessageState,
    QueueItem,
    Store,
)
from gateway.store.data_lock import DataDirLock
from gateway.store.rotation import KEY_WATCH_INTERVAL, ROTATE_BATCH, watch_key_file
from gateway.webhooks.delivery import WebhookSettings
from gateway.webhooks.hosts import CallbackHosts
from gateway.webhooks.runtime import Integrations

log = logging.getLogger(__name__)

# All durations in seconds.
HEALTH_INTERVAL: Final = 60.0  # how often a ready modem's signal and registration are read
HEALTH_DEADLINE: Final = 30.0  # bound on one health poll
STOP_GRACE: Final = 15.0  # the segment in flight may finish within this on shutdown
MODEM_STOP_DEADLINE: Final = 10.0  # bound on closing one modem
PURGE_INTERVAL: Final = 6 * 3600.0  # retention purge period
DEVICE_POLL_INTERVAL: Final = 1.0  # looking for new devices matching a glob port (no udev)
DAY: Final = 86400.0
GC_YOUNG_THRESHOLD: Final = 20_000  # net allocations between young collections (see tune_gc)
SIMULATOR_DIR: Final = "sim"


class _Stoppable(Protocol):
    async def stop(self) -> None: ...


ModemFactory = Callable[[ModemConfig, str], ModemPort]


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    """Timing knobs that are not in the config file (tests shrink them)."""

    dispatch: DispatchSettings = field(default_factory=DispatchSettings)
    health_interval: float = HEALTH_INTERVAL
    health_deadline: float = HEALTH_DEADLINE
    stop_grace: float = STOP_GRACE
    modem_stop_deadline: float = MODEM_STOP_DEADLINE
    purge_interval: float = PURGE_INTERVAL
    device_poll_interval: float = DEVICE_POLL_INTERVAL
    key_watch_interval: float = KEY_WATCH_INTERVAL
    rotate_batch: int = ROTATE_BATCH
    webhooks: WebhookSettings | None = None  # delivery timing; None: the defaults
    serve_http: bool = True


class Daemon:
    """The gateway daemon; implements ``GatewayService`` (and the status page's reset)."""

    def __init__(
        self,
        config: Config,
        *,
        settings: RuntimeSettings | None = None,
        modem_factory: ModemFactory | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.settings = settings or RuntimeSettings()
        self.api: ApiSettings = config.api_settings()
        # A glob port's devices get their series when found (gateway.fleet.discovery).
        self.metrics = Metrics(m.name for m in config.modems if m.enabled and not m.is_family)
        self._modem_factory = modem_factory or default_modem_factory
        self._clock = clock
        # Concat references need spread, not secrecy: a seeded generator spares a syscall each.
        self._rng = rng or random.Random()
        self._store: Store | None = None
        self.router = Router(config.routes, config.modems)
        self._rules = SubmissionRules(
            config.server.default_country, self.api.max_segments, self.router
        )
        self.scheduler: Scheduler | None = None
        self.dispatcher: Dispatcher | None = None
        self.handles: dict[str, ModemHandle] = {}
        self.simulators: dict[str, SimulatedModem] = {}
        self._consumers: dict[str, ModemEvents] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._workers: list[asyncio.Task[None]] = []
        self._discovery: list[asyncio.Task[None]] = []  # one per glob port, stopped first
        self._health_pokes: dict[str, asyncio.Event] = {}
        self._runner: web.AppRunner | None = None
        self.api_url: str | None = None
        self._accepting = False
        self._data_lock: DataDirLock | None = None
        self._keyring: KeyRing | None = None  # the store's, watched for rotations
        self.integrations: Integrations | None = None  # webhooks, Twilio and Kannel shapes

    # GatewayService ------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            raise Unavailable("the store is not open")
        return self._store

    @store.setter
    def store(self, store: Store) -> None:
        self._store = store

    def is_ready(self) -> bool:
        if self._store is None or not self._accepting:
            return False
        now = self._clock()
        return any(h.usable(now) for h in self.handles.values())

    def modems(self) -> list[ModemStatus]:
        now = self._clock()
        return [h.status(now) for h in self.handles.values()]

    async def submit(
        self, requests: Sequence[SendRequest], api_key: ApiKey | None
    ) -> list[AddResult]:
        if not self._accepting or self.dispatcher is None:
            raise Unavailable("the gateway is not running")
        now = self._clock()
        new = [
            prepare_message(r, self._rules, now=now, api_key=api_key, rng=self._rng)
            for r in requests
        ]
        results = await self.store.add_messages(new)
        await self.dispatcher.enqueue_many(
            [
                self._queue_item(r.message, r.to_hash)
                for r in results
                if r.created and r.message.state is MessageState.QUEUED
            ]
        )
        return results

    async def cancel(self, message_id: str) -> Message:
        message = await self.store.cancel_message(message_id)
        if self.dispatcher is not None:
            self.dispatcher.cancel(message_id)
        return message

    async def reset_modem(self, name: str, *, actor: str = "api") -> None:
        handle = self._handle(name)
        await self.store.audit(actor, passthrough.RESET_ACTION, {}, subject=name)
        self.metrics.modem_reset(name, "manual")
        if self.dispatcher is not None:
            self.dispatcher.release(handle)
        self._spawn(self._reset(handle), f"reset-{name}")

    async def _reset(self, handle: ModemHandle) -> None:
        try:
            async with asyncio.timeout(self.settings.dispatch.reset_deadline):
                await handle.modem.reset()
        except (DriverError, TimeoutError) as exc:
            log.warning("reset of modem %s failed: %s", handle.name, exc)
        with contextlib.suppress(Exception):
            await self.store.add_event("modem.reset", handle.name, {"by": "api"})

    async def modem_command(
        self,
        name: str,
        line: str,
        timeout: float | None,  # noqa: ASYNC109 - the modem's deadline, passed to the driver
        actor: str,
    ) -> list[str]:
        """Technician passthrough (audited): one AT command, run between sends."""
        return await passthrough.run_command(self._handle(name), self.store, line, timeout, actor)

    async def modem_ussd(self, name: str, code: str, actor: str) -> passthrough.UssdAnswer:
        """Technician USSD request (audited); the amount is read with the modem's
        configured pattern when the code is its balance code."""
        handle = self._handle(name)
        reply = await passthrough.run_ussd(handle, self.store, code, actor)
        configured = handle.config.balance
        pattern = configured.pattern if configured and configured.ussd == code else None
        amount = balance.parse_balance(reply.text, re.compile(pattern) if pattern else None)
        return passthrough.UssdAnswer(status=reply.status, text=reply.text, balance=amount)

    def _handle(self, name: str) -> ModemHandle:
        handle = self.handles.get(name)
        if handle is None:
            raise NotFound("no modem of that name", field="name")
        return handle

    async def _record_balance(
        self, handle: ModemHandle, reply: UssdReply, amount: float | None
    ) -> None:
        handle.balance, handle.balance_text, handle.balance_at = amount, reply.text, self._clock()
        detail = {"amount": amount, "text": reply.text, "status": reply.status}
        try:
            await self.store.add_event(balance.BALANCE_EVENT, handle.name, detail)
        except (StoreError, Unavailable) as exc:
            log.warning("recording the balance of modem %s failed: %s", handle.name, exc.code)

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
        )

    # lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Bring everything up; on failure, what was started is stopped again."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        cfg = self.config
        await self._open_store()
        store = self.store
        recovery = await store.recover(resend_unknown=cfg.retry.resend_unknown)
        if recovery.unknown_segments or recovery.requeued_messages:
            log.warning(
                "recovered after an unclean stop: %d segment(s) unknown, %d message(s) requeued",
                recovery.unknown_segments,
                recovery.requeued_messages,
            )
        self.scheduler = Scheduler(clock=self._clock)
        self.dispatcher = Dispatcher(
            store,
            self.scheduler,
            self.router,
            RetryPolicy(cfg.retry),
            settings=self.settings.dispatch,
            metrics=self.metrics,
            clock=self._clock,
        )
        queued = await store.queued()
        for item in queued:
            await self.dispatcher.enqueue(item)
        log.info("queue rebuilt: %d message(s)", len(queued))
        self._spawn(self.dispatcher.expire_loop(), "expire")
        self._spawn(
            release_incomplete_loop(
                store, cfg.inbound.reassembly_timeout, metrics=self.metrics, clock=self._clock
            ),
            "reassembly",
        )
        if cfg.store.retention_days > 0:
            self._spawn(self._purge_loop(), "purge")
        if self._keyring is not None:
            self._spawn(
                watch_key_file(
                    store,
                    self._keyring,
                    cfg.store.key_file,
                    interval=self.settings.key_watch_interval,
                    batch=self.settings.rotate_batch,
                ),
                "key-watch",
            )
        for modem_config in cfg.modems:
            if not modem_config.enabled:
                continue
            if modem_config.is_family:
                await self._start_family(modem_config)
            else:
                await self._start_modem(modem_config)
        self._accepting = True
        if self.settings.serve_http:
            await self._start_http()

    async def _open_store(self) -> None:
        cfg = self.config.store
        # First: a second daemon (or a rotate-key) on this data dir is refused here.
        self._data_lock = DataDirLock.acquire(cfg.data_dir, "daemon")
        keyring = KeyRing.load(cfg.key_file)
        integrations = Integrations(
            self.config.webhooks,
            self.settings.webhooks,
            callback_hosts=CallbackHosts(self.config.server.callback_hosts),
            metrics=self.metrics,
        )
        # Every state change the store records writes its webhook events with it.
        store = create_store(
            cfg, keyring, fanout=integrations.fanout, on_outbox=integrations.dispatcher.notify
        )
        old = os.umask(0o077)  # the database and its -wal/-shm files: owner only
        try:
            await store.open()
        finally:
            os.umask(old)
        self._store = store
        self._keyring = keyring
        await integrations.start(store)
        self.integrations = integrations

    async def _start_family(self, family: ModemConfig) -> None:
        """Start the devices a glob port matches now, then watch it for more."""
        watch = FamilyWatch(family)
        members = watch.scan(self.handles)
        if not members:
            log.warning("modem family %s: no device matches %s yet", family.name, family.port)
        for member in members:
            await self._start_member(member)
        task = asyncio.get_running_loop().create_task(
            watch.run(
                self._start_member,
                self.handles,
                self.settings.device_poll_interval,
            ),
            name=f"discover-{family.name}",
        )
        self._discovery.append(task)

    async def _start_member(self, member: ModemConfig) -> None:
        """A device found by a glob port: routes, queue pools and metrics learn of it first."""
        assert self.dispatcher is not None
        self.router.add_modem(member)
        self.dispatcher.regroup()
        self.metrics.add_modem(member.name)
        await self._start_modem(member)

    async def _start_modem(self, modem_config: ModemConfig) -> None:
        assert self.dispatcher is not None
        name = modem_config.name
        if modem_config.simulate is not None:
            port = await self._start_simulator(modem_config)
        else:
            assert modem_config.port is not None
            port = modem_config.port  # a plain path: the driver waits for it to appear
        handle = ModemHandle(
            config=modem_config,
            modem=self._modem_factory(modem_config, port),
            port=port,
            limiter=RateLimiter(modem_config.rate),
        )
        self.handles[name] = handle
        self._health_pokes[name] = asyncio.Event()
        self.dispatcher.add_modem(handle)
        await self._run_modem(handle)

    async def _run_modem(self, handle: ModemHandle) -> None:
        """Start the driver, then this modem's event consumer, health poll, balance check
        (when configured) and worker."""
        assert self.dispatcher is not None
        name = handle.name
        consumer = ModemEvents(
            handle, self.store, on_state=self._on_state, metrics=self.metrics, clock=self._clock
        )
        self._consumers[name] = consumer
        await handle.modem.start()
        handle.state = handle.modem.state
        self._on_state(handle)
        self._spawn(consumer.run(), f"events-{name}")
        self._spawn(self._health_loop(handle), f"health-{name}")
        if handle.config.balance is not None:
            self._spawn(
                balance.balance_loop(
                    handle,
                    handle.config.balance,
                    lambda code: passthrough.run_ussd(handle, None, code, "daemon"),
                    self._record_balance,
                ),
                f"balance-{name}",
            )
        worker = asyncio.get_running_loop().create_task(
            self.dispatcher.worker(handle), name=f"worker-{name}"
        )
        self._workers.append(worker)
        handle.tasks.append(worker)

    async def _start_simulator(self, modem_config: ModemConfig) -> str:
        assert modem_config.simulate is not None
        sim_dir = self.config.store.data_dir / SIMULATOR_DIR
        sim_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        timing = modem_config.simulator or SimulatorConfig()
        sim = SimulatedModem(
            sim_dir / modem_config.name,
            profile=modem_config.simulate,
            radio_time=timing.radio_time,
            report_delay=timing.report_delay,
            report_status=timing.report_status,
        )
        await sim.start()
        self.simulators[modem_config.name] = sim
        return str(sim.path)

    async def _start_http(self) -> None:
        from gateway.http.access_log import AccessLog
        from gateway.http.app import make_app
        from gateway.http.features import daemon_features

        server = self.config.server
        features = daemon_features(self, self.metrics)
        if self.integrations is not None:
            features += self.integrations.features()
        app = make_app(self, features, default_country=server.default_country)
        runner = web.AppRunner(
            app, access_log_class=AccessLog, handle_signals=False, shutdown_timeout=10.0
        )
        await runner.setup()
        self._runner = runner
        ssl_context: ssl.SSLContext | None = None
        if server.tls_cert is not None and server.tls_key is not None:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(server.tls_cert, server.tls_key)
        site = web.TCPSite(runner, server.host, server.port, ssl_context=ssl_context)
        await site.start()
        host, port = runner.addresses[0][:2]
        scheme = "https" if ssl_context is not None else "http"
        shown = f"[{host}]" if ":" in str(host) else str(host)
        self.api_url = f"{scheme}://{shown}:{port}"
        log.info("API listening on %s", self.api_url)

    async def stop(self) -> None:
        """Bounded, graceful: nothing new accepted, the segment in flight may finish."""
        self._accepting = False
        for task in self._discovery:  # first: no modem may start while the others stop
            task.cancel()
        for task in self._discovery:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._discovery.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for handle in self.handles.values():
            handle.stopping = True
            if self.dispatcher is not None:
                self.dispatcher.update_ready(handle)
        await self._stop_workers()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for handle in self.handles.values():
            await self._bounded_stop(handle.modem, handle.name)
        for name, sim in self.simulators.items():
            await self._bounded_stop(sim, f"simulator {name}")
        self.simulators.clear()
        if self.dispatcher is not None:
            await self.dispatcher.close()
        if self.integrations is not None:
            await self.integrations.stop()
            self.integrations = None
        if self._store is not None:
            await self._store.close()
            self._store = None
        self._keyring = None
        if self._data_lock is not None:
            self._data_lock.release()
            self._data_lock = None

    async def _stop_workers(self) -> None:
        idle = [t for h in self.handles.values() if not h.busy for t in h.tasks]
        for task in idle:
            task.cancel()
        if self._workers:
            _, pending = await asyncio.wait(self._workers, timeout=self.settings.stop_grace)
            for task in pending:
                log.warning("%s still busy after %g s; cancelling", task.get_name(),
                            self.settings.stop_grace)  # fmt: skip
                task.cancel()
            for task in self._workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._workers.clear()

    async def _bounded_stop(self, thing: _Stoppable, what: str) -> None:
        try:
            async with asyncio.timeout(self.settings.modem_stop_deadline):
                await thing.stop()
        except Exception as exc:
            log.warning("stopping %s: %s", what, exc)

    # background ----------------------------------------------------------------------

    def _on_state(self, handle: ModemHandle) -> None:
        if handle.state is ModemState.READY:
            mismatch = check_identity(handle)
            if mismatch is not None:
                self._spawn(self._record_mismatch(handle, mismatch), f"mismatch-{handle.name}")
        if self.dispatcher is not None:
            self.dispatcher.update_ready(handle)
        if handle.state is ModemState.READY:
            poke = self._health_pokes.get(handle.name)
            if poke is not None:
                poke.set()

    async def _record_mismatch(self, handle: ModemHandle, mismatch: Mismatch) -> None:
        try:
            await self.store.add_event(IDENTITY_MISMATCH_EVENT, handle.name, mismatch.detail())
        except (StoreError, Unavailable) as exc:
            log.warning("recording the identity of modem %s failed: %s", handle.name, exc.code)

    async def _health_loop(self, handle: ModemHandle) -> None:
        poke = self._health_pokes[handle.name]
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
                log.info("health poll of modem %s failed: %s", handle.name, exc)
                continue
            handle.health = health
            handle.seen(self._clock())
            identity = handle.modem.identity
            if identity is not None:
                handle.identity = identity

    async def _purge_loop(self) -> None:
        days = self.config.store.retention_days
        while True:
            try:
                removed = await self.store.purge(self._clock() - days * DAY)
            except (StoreError, Unavailable):
                log.exception("retention purge failed")
            else:
                if removed:
                    log.info("retention purge removed %d record(s)", removed)
            await asyncio.sleep(self.settings.purge_interval)  # a modelled period

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro, name=name))


def default_modem_factory(modem_config: ModemConfig, port: str) -> ModemPort:
    """The real driver; the profile of a simulated modem is its simulator profile."""
    from drivers.modem import Modem, ModemSettings

    settings = ModemSettings(
        port=port,
        profile=modem_config.profile if modem_config.simulate is None else modem_config.simulate,
        pin=modem_config.read_pin(),
        smsc=modem_config.smsc,
        cmgs_timeout=modem_config.cmgs_timeout,
        command_timeout=modem_config.command_timeout,
    )
    return Modem(settings, name=modem_config.name)


async def serve(
    config: Config, *, stop: asyncio.Event | None = None, daemon: Daemon | None = None
) -> int:
    """Run the daemon until SIGTERM/SIGINT (or ``stop``); returns the exit code."""
    loop = asyncio.get_running_loop()
    stop_event = stop or asyncio.Event()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop_event.set)
            handled.append(sig)
    daemon = daemon or Daemon(config)
    try:
        await daemon.start()
        log.info(
            "smsgw running: %d modem(s), API at %s", len(daemon.handles), daemon.api_url or "-"
        )
        await stop_event.wait()
        log.info("stopping")
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await daemon.stop()
    log.info("stopped")
    return 0


def tune_gc() -> None:
    """Collect young objects every GC_YOUNG_THRESHOLD net allocations rather than 700.

    A batch of a thousand messages allocates tens of thousands of short-lived objects;
    at the default threshold they are promoted to the oldest generation while the request
    is still running, and every few batches a full collection walks the whole send queue
    (a fifth of the CPU of intake in batches). Cycles are still collected, just in fewer,
    larger passes.
    """
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)


def run(config: Config) -> int:
    """Entry point for ``smsgw run``: a fresh event loop, until a signal stops it."""
    os.umask(0o077)  # everything the daemon creates holds or may hold PHI
    tune_gc()
    return asyncio.run(serve(config))  # a GatewayError reaches the CLI: one line, an exit code
