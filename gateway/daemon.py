"""The composition root: builds the gateway from its config and runs it.

    start: data dir lock -> key ring -> store (open, recover) -> the queue loading
           from the store in the background -> housekeeping and key watch -> modems
           (a supervisor each; for a glob port the devices it matches, then a discovery
           task: gateway.fleet.discovery) -> HTTP API -> the service takes work
    stop:  the same, in reverse

Every start is entered on one ``contextlib.AsyncExitStack`` together with its stop,
so a start that fails half-way stops exactly what it had started, and ``stop`` is
that stack unwound. The service the API calls is ``gateway.gateway_service.Gateway``;
each modem is run by its ``gateway.fleet.supervisor.ModemSupervisor``. Built-in
simulated modems are started by the command line (gateway.cli.simulators), which
hands ``run`` the config with their ptys as ports.

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
import signal
import ssl
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from gateway.config import ApiSettings, Config
from gateway.consent.desk import ConsentDesk
from gateway.consent.gate import OPTED_OUT, OPTED_OUT_TEXT, SendGate
from gateway.core.auto_reply import AutoReply, KeywordTest
from gateway.core.broadcasts import Broadcasts
from gateway.core.clock_guard import ClockGuard
from gateway.core.policy import RetryPolicy
from gateway.core.quiet_hours import QuietHours
from gateway.core.replies import ReplyMatcher
from gateway.core.reply_desk import ReplyDesk
from gateway.core.routing import Router
from gateway.core.scheduler import Scheduler
from gateway.core.secure_desk import SecureDesk, SecureSettings
from gateway.core.submission import SubmissionRules
from gateway.crypto import KeyRing
from gateway.errors import StoreError, Unavailable
from gateway.fleet.dispatch import Dispatcher, DispatchSettings
from gateway.fleet.fleet import DEVICE_POLL_INTERVAL, Fleet, ModemFactory, default_modem_factory
from gateway.fleet.handle import ModemHandle
from gateway.fleet.modem_events import release_incomplete_loop
from gateway.fleet.queue_load import LOAD_CHUNK, load_queue
from gateway.fleet.supervisor import (
    SupervisorSettings,
)
from gateway.gateway_service import Gateway
from gateway.integrations import Integrations
from gateway.metrics import Metrics
from gateway.store.backend import create_store
from gateway.store.base import Inbound, NewMessage, Store
from gateway.store.data_lock import DataDirLock
from gateway.store.rotation import KEY_WATCH_INTERVAL, ROTATE_BATCH, watch_key_file
from gateway.webhooks.delivery import WebhookSettings
from gateway.webhooks.hosts import CallbackHosts

if TYPE_CHECKING:
    from gateway.http.server import ApiServer

log = logging.getLogger(__name__)

# All durations in seconds.
PURGE_INTERVAL: Final = 6 * 3600.0  # retention purge period
STORE_CHECK_INTERVAL: Final = 1.0  # the database file's identity, checked while idle
DAY: Final = 86400.0
GC_YOUNG_THRESHOLD: Final = 20_000  # net allocations between young collections (see tune_gc)

# What must run around the daemon for its modems to exist (the command line's built-in
# simulators): given the config, it yields the config the daemon runs with.
ModemDevices = Callable[[Config], AbstractAsyncContextManager[Config]]


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    """Timing knobs that are not in the config file (tests shrink them)."""

    dispatch: DispatchSettings = field(default_factory=DispatchSettings)
    supervision: SupervisorSettings = field(default_factory=SupervisorSettings)
    purge_interval: float = PURGE_INTERVAL
    store_check_interval: float = STORE_CHECK_INTERVAL
    device_poll_interval: float = DEVICE_POLL_INTERVAL
    key_watch_interval: float = KEY_WATCH_INTERVAL
    rotate_batch: int = ROTATE_BATCH
    webhooks: WebhookSettings | None = None  # delivery timing; None: the defaults
    serve_http: bool = True
    queue_load_chunk: int = LOAD_CHUNK  # queued messages read per step at start
    secure: SecureSettings = field(default_factory=SecureSettings)


@contextlib.asynccontextmanager
async def running(coro: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """A background task for as long as the context lasts; cancelled and awaited on exit."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Daemon:
    """The gateway's parts, started and stopped together; ``gateway`` is what the API calls."""

    def __init__(
        self,
        config: Config,
        *,
        settings: RuntimeSettings | None = None,
        modem_factory: ModemFactory | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        is_consent_keyword: KeywordTest | None = None,
    ) -> None:
        self.config = config
        self.settings = settings or RuntimeSettings()
        self.api: ApiSettings = config.api_settings()
        # A glob port's devices get their series when found (gateway.fleet.discovery).
        self.metrics = Metrics(m.name for m in config.modems if m.enabled and not m.is_family)
        self._modem_factory = modem_factory or default_modem_factory
        self._clock = clock
        self._store: Store | None = None
        self.router = Router(config.routes, config.modems)
        rules = SubmissionRules(
            config.server.default_country,
            self.api.max_segments,
            self.router,
            frozenset(config.categories),
        )
        # Purges and expiries wait for a clock it can explain (durations use monotonic time).
        self.clock_guard = ClockGuard(wall=clock)
        self.gate = SendGate(lambda: self.store, config.honours_opt_out)
        self.gateway = Gateway(
            self.api,
            rules,
            lambda: self.store,
            clock=clock,
            rng=rng,
            gate=self.gate,
            metrics=self.metrics,
            clock_guard=self.clock_guard,
        )
        # Broadcasts' rows become messages in the background (started with the queue).
        self.broadcasts = Broadcasts(
            lambda: self.store.broadcasts,
            prepare=self.gateway.prepare,
            blocked=self._opted_out,
            queue=lambda: self.dispatcher,
            categories=frozenset(config.categories),
            opted_out=(OPTED_OUT, OPTED_OUT_TEXT),
            clock=clock,
        )
        self.consent = ConsentDesk(
            config.consent,
            clinic=config.clinic.name,
            reply=self.gateway.send_confirmation,
            categories=config.categories,
            metrics=self.metrics,
        )
        # Opt-out keywords are answered by their own confirmation, never the auto-reply.
        self.auto_reply = AutoReply(
            config.clinic,
            lambda: self.store,
            self.gateway.submit,
            is_consent_keyword=is_consent_keyword or self._is_consent_keyword,
            clock=clock,
        )
        # A consent keyword is never an answer to a message's expected replies.
        self.reply_matcher = ReplyMatcher(is_consent_keyword or self._is_consent_keyword)
        self.replies = ReplyDesk(
            config.replies,
            self.reply_matcher,
            lambda: self.store,
            self.gateway.send_reply,
            clinic=config.clinic.name,
        )
        self.secure = SecureDesk(
            self.gateway,
            clinic=config.clinic.name,
            default_country=config.server.default_country,
            link_base=self._secure_link_base,
            settings=self.settings.secure,
            clock=clock,
            on_inbound=self._on_inbound,  # an answer on the page is answered as a text is
        )
        self._public: ApiServer | None = None
        self.public_url: str | None = None  # the patient pages' listener, as bound
        self.scheduler: Scheduler | None = None
        self.dispatcher: Dispatcher | None = None
        self.fleet: Fleet | None = None
        self._api: ApiServer | None = None
        self.api_url: str | None = None
        self._data_lock: DataDirLock | None = None
        self._keyring: KeyRing | None = None
        self.integrations: Integrations | None = None  # webhooks, Twilio and Kannel shapes
        self._running: contextlib.AsyncExitStack | None = None

    def _secure_link_base(self) -> str | None:
        """Where secure links point: the public listener's public_url, else the server's,
        else the listener as bound (fine on one machine, wrong behind a proxy)."""
        public = self.config.server.public
        if public is None:
            return None
        return public.public_url or self.config.server.public_url or self.public_url

    async def _opted_out(self, new: Sequence[NewMessage]) -> list[bool]:
        number_hash = self.store.number_hash
        return await self.gate.blocked([number_hash(m.to) for m in new], [m.category for m in new])

    def _is_consent_keyword(self, text: str) -> bool:
        return self.consent.keyword(text) is not None

    async def _on_inbound(self, inbound: Inbound) -> None:
        """A committed text: an answer gets its follow-up or nudge, anything else the
        after-hours auto-reply (a patient who answered a reminder is not told we are shut)."""
        if not await self.replies.on_inbound(inbound):
            await self.auto_reply.on_inbound(inbound)

    @property
    def store(self) -> Store:
        if self._store is None:
            raise Unavailable("the store is not open")
        return self._store

    @property
    def handles(self) -> dict[str, ModemHandle]:
        return self.fleet.handles if self.fleet is not None else {}

    def _own_number(self, modem: str) -> str | None:
        handle = self.handles.get(modem)
        return handle.number if handle is not None else None

    # lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Bring everything up; on failure, what was started is stopped again."""
        async with contextlib.AsyncExitStack() as stack:
            await self._start(stack)
            self._running = stack.pop_all()

    async def stop(self) -> None:
        """Bounded, graceful: nothing new accepted, the segment in flight may finish."""
        stack, self._running = self._running, None
        if stack is not None:
            await stack.aclose()

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        cfg = self.config
        stack.push_async_callback(self._close_store)
        await self._open_store()
        store = self.store
        watch_store = store_health_loop(store, self.settings.store_check_interval)
        await stack.enter_async_context(running(watch_store, "store-health"))
        # The newest record takes a scan of a large store: read in the background, with
        # purges and expiries held until it is in.
        self.clock_guard.check_store_later()
        await stack.enter_async_context(running(self._check_clock(store), "clock-check"))
        recovery = await store.recover(resend_unknown=cfg.retry.resend_unknown)
        if recovery.unknown_segments or recovery.requeued_messages:
            log.warning(
                "recovered after an unclean stop: %d segment(s) unknown, %d message(s) requeued",
                recovery.unknown_segments,
                recovery.requeued_messages,
            )
        quiet = QuietHours(cfg.categories, cfg.clinic.zone)
        self.scheduler = Scheduler(clock=self._clock, hold=quiet.hold)
        dispatcher = self.dispatcher = Dispatcher(
            store,
            self.scheduler,
            self.router,
            RetryPolicy(cfg.retry),
            settings=self.settings.dispatch,
            metrics=self.metrics,
            gate=self.gate,
            clock=self._clock,
            clock_guard=self.clock_guard,
            held=self.broadcasts.holds,  # a paused broadcast's message, whatever requeued it
        )
        stack.callback(dispatcher.close)
        await self.broadcasts.load_paused()
        # The queue loads in the background: the API listens and takes sends meanwhile,
        # and nothing is sent until it is in (gateway.fleet.queue_load).
        self.scheduler.begin_loading()
        load = load_queue(store, dispatcher, chunk=self.settings.queue_load_chunk)
        await stack.enter_async_context(running(load, "queue-load"))
        await stack.enter_async_context(running(self.broadcasts.run(), "broadcasts"))
        await stack.enter_async_context(running(dispatcher.expire_loop(), "expire"))
        await stack.enter_async_context(
            running(
                release_incomplete_loop(
                    store,
                    cfg.inbound.reassembly_timeout,
                    metrics=self.metrics,
                    clock=self._clock,
                    on_inbound=self._on_inbound,
                ),
                "reassembly",
            )
        )
        sweep = self.secure.sweep_loop(self.clock_guard)
        await stack.enter_async_context(running(sweep, "secure-sweep"))
        if cfg.store.retention_days > 0:
            purge = purge_loop(
                store,
                cfg.store.retention_days,
                self.settings.purge_interval,
                self._clock,
                self.clock_guard,
            )
            await stack.enter_async_context(running(purge, "purge"))
        if self._keyring is not None:
            watch = watch_key_file(
                store,
                self._keyring,
                cfg.store.key_file,
                interval=self.settings.key_watch_interval,
                batch=self.settings.rotate_batch,
            )
            await stack.enter_async_context(running(watch, "key-watch"))
        fleet = self.fleet = Fleet(
            store=store,
            dispatcher=dispatcher,
            router=self.router,
            metrics=self.metrics,
            settings=self.settings.supervision,
            modem_factory=self._modem_factory,
            device_poll_interval=self.settings.device_poll_interval,
            consent=self.consent,
            clock=self._clock,
            on_inbound=self._on_inbound,
        )
        stack.push_async_callback(fleet.stop)
        await fleet.start(cfg.modems)
        if self.settings.serve_http:
            stack.push_async_callback(self._stop_http)
            await self._start_http()
            if cfg.server.public is not None:
                stack.push_async_callback(self._stop_public)
                await self._start_public()
        self.gateway.open(dispatcher, fleet)
        stack.callback(self.gateway.close)  # the first thing a stop does

    async def _check_clock(self, store: Store) -> None:
        try:
            newest = await store.newest_record_at()
        except (StoreError, Unavailable) as exc:
            log.warning("clock: the store's newest record could not be read: %s", exc.code)
            return  # purges and expiries stay held: the clock was not checked
        self.clock_guard.check_store(newest)

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
            clock_guard=self.clock_guard,
            own_number=self._own_number,
            clock=self._clock,
        )
        # Every state change the store records writes its webhook events with it.
        store = create_store(
            cfg,
            keyring,
            fanout=integrations.fanout,
            on_outbox=integrations.dispatcher.notify,
            consent=self.consent.change_for,  # a STOP commits with its text
            replies=self.reply_matcher.value,  # and an answer with its text
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

    async def _close_store(self) -> None:
        """The pair of ``_open_store``: whatever it got to, closed in reverse."""
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

    async def _start_http(self) -> None:
        from gateway.http import broadcasts, patient_text, secure_messages
        from gateway.http.app import make_app
        from gateway.http.features import daemon_features
        from gateway.http.server import ListenerLimits, body_timeout_feature, serve_app

        server = self.config.server
        features = [body_timeout_feature(server.body_timeout)]
        features += daemon_features(self.gateway, self.metrics, self.config.categories)
        features.append(broadcasts.feature(self.broadcasts, self.config.categories))
        if self.integrations is not None:
            features += self.integrations.features()
        # Texting in as a patient: only for simulated modems (gateway.http.patient_text).
        simulated = [m.name for m in self.config.modems if m.enabled and m.simulate is not None]
        features.append(patient_text.feature(self.config.store.data_dir, simulated))
        features.append(secure_messages.feature(self.secure))
        app = make_app(self.gateway, features, default_country=server.default_country)
        ssl_context: ssl.SSLContext | None = None
        if server.tls_cert is not None and server.tls_key is not None:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(server.tls_cert, server.tls_key)
        limits = ListenerLimits(
            header_timeout=server.header_timeout,
            body_timeout=server.body_timeout,
            max_connections=server.max_connections,
        )
        self._api = await serve_app(app, server.host, server.port, ssl_context, limits=limits)
        host, port = self._api.addresses[0][:2]
        scheme = "https" if ssl_context is not None else "http"
        shown = f"[{host}]" if ":" in str(host) else str(host)
        self.api_url = f"{scheme}://{shown}:{port}"
        log.info("API listening on %s", self.api_url)
        if ssl_context is None and not server.loopback:  # allowed by allow_plain_http
            log.warning(
                "plain HTTP on %s (allow_plain_http = true): message bodies, numbers and"
                " API tokens cross the network unencrypted; set tls_cert and tls_key",
                server.host,
            )

    async def _start_public(self) -> None:
        """The second listener: the patient's secure-message pages and nothing else."""
        from gateway.http.secure_html import Clinic
        from gateway.http.secure_page import PublicAccessLog, make_public_app
        from gateway.http.server import ListenerLimits, serve_app

        server, public = self.config.server, self.config.server.public
        assert public is not None
        base = public.public_url or server.public_url or ""
        clinic = Clinic(self.config.clinic.name, self.config.clinic.phone)
        app = make_public_app(self.secure, clinic, https=base.startswith("https://"))
        limits = ListenerLimits(
            header_timeout=server.header_timeout,
            body_timeout=server.body_timeout,
            max_connections=server.max_connections,
        )
        self._public = await serve_app(
            app, public.host, public.port, None, limits=limits, access_log_class=PublicAccessLog
        )
        host, port = self._public.addresses[0][:2]
        shown = f"[{host}]" if ":" in str(host) else str(host)
        self.public_url = f"http://{shown}:{port}"
        log.info("secure-message pages listening on %s", self.public_url)
        if not base:
            log.warning(
                "no public_url in [server.public] or [server]: secure links point at %s,"
                " which patients cannot open from their phones",
                self.public_url,
            )

    async def _stop_public(self) -> None:
        if self._public is not None:
            await self._public.stop()
            self._public = None

    async def _stop_http(self) -> None:
        """The pair of ``_start_http``."""
        if self._api is not None:
            await self._api.stop()
            self._api = None


async def purge_loop(
    store: Store,
    retention_days: int,
    interval: float,
    clock: Callable[[], float],
    guard: ClockGuard | None = None,
) -> None:
    while True:
        if guard is not None and guard.hold("retention purge"):
            await asyncio.sleep(interval)  # a modelled period
            continue
        try:
            removed = await store.purge(clock() - retention_days * DAY)
        except (StoreError, Unavailable):
            log.exception("retention purge failed")
        else:
            if removed:
                log.info("retention purge removed %d record(s)", removed)
        await asyncio.sleep(interval)  # a modelled period


async def store_health_loop(store: Store, interval: float) -> None:
    """The store's health, checked on a timer: a database deleted under an idle daemon
    is logged (once, by the store) without waiting for a write or a probe."""
    while True:
        store.health()
        await asyncio.sleep(interval)  # a modelled period


async def serve(
    config: Config,
    *,
    stop: asyncio.Event | None = None,
    daemon: Daemon | None = None,
    on_started: Callable[[], None] | None = None,
) -> int:
    """Run the daemon until SIGTERM/SIGINT (or ``stop``); returns the exit code.
    ``on_started``: called once the API listens (the demo prints its commands then)."""
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
        if on_started is not None:
            on_started()
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


def run(
    config: Config,
    *,
    devices: ModemDevices | None = None,
    on_started: Callable[[], None] | None = None,
) -> int:
    """Entry point for ``smsgw run``: a fresh event loop, until a signal stops it.

    ``devices``: started before the daemon and stopped after it (the command line's
    built-in simulators); the daemon runs with the config it yields.
    """
    os.umask(0o077)  # everything the daemon creates holds or may hold PHI
    tune_gc()
    # A GatewayError reaches the CLI: one line, an exit code.
    return asyncio.run(_serve_with(config, devices, on_started))


async def _serve_with(
    config: Config, devices: ModemDevices | None, on_started: Callable[[], None] | None
) -> int:
    if devices is None:
        return await serve(config, on_started=on_started)
    async with devices(config) as with_devices:
        return await serve(with_devices, on_started=on_started)
