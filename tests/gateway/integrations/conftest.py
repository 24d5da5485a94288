"""The daemon with webhooks and the compatibility endpoints wired in, simulated modems on
real ptys, its HTTP API on loopback, and a subscriber on loopback that tests steer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from drivers.simulator import SimulatedModem
from gateway.config import (
    Config,
    InboundConfig,
    ModemConfig,
    RateConfig,
    RepliesConfig,
    RetryConfig,
    ServerConfig,
    StoreConfig,
    WebhookConfig,
)
from gateway.core.service import SendRequest
from gateway.crypto import KeyRing
from gateway.daemon import Daemon, RuntimeSettings
from gateway.store.base import Message, Scope
from gateway.webhooks.delivery import WebhookSettings
from tests.gateway.runtime.conftest import fast_modem, poll_until
from tests.support import FAST_SUPERVISION

FAST_WEBHOOKS = WebhookSettings(
    max_attempts=6,
    backoff_initial=0.02,
    backoff_max=0.1,
    attempt_timeout=0.3,
    concurrency=4,
    idle_wake=0.5,
)


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class Subscriber:
    """A webhook receiver on 127.0.0.1: answers from a script, then ``default``."""

    url: str = ""
    script: list[str] = field(default_factory=list)  # "ok", "fail", "hang" per request
    default: str = "ok"
    received: list[Received] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        mode = self.script.pop(0) if self.script else self.default
        status = {"ok": 200, "fail": 500, "hang": 0}[mode]
        self.received.append(
            Received(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                body,
                status,
            )
        )
        self.changed.set()
        if mode == "hang":
            await self.release.wait()  # past the sender's deadline; released at teardown
            return web.Response(status=500)
        return web.Response(status=status)

    def ok(self) -> list[Received]:
        return [r for r in self.received if r.answered == 200]

    async def wait_ok(self, count: int, within: float = 15.0) -> list[Received]:
        async def check() -> bool:
            return len(self.ok()) >= count

        await poll_until(check, f"{count} deliveries", within)
        return self.ok()

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    sub = Subscriber()
    await sub.start()
    try:
        yield sub
    finally:
        await sub.stop()


@dataclass
class Gateway:
    daemon: Daemon
    sims: dict[str, SimulatedModem]
    url: str = ""

    async def send(self, to: str, body: str, **kw: Any) -> Message:
        [result] = await self.daemon.gateway.submit([SendRequest(to=to, body=body, **kw)], None)
        return result.message

    async def key(self, *scopes: Scope) -> tuple[str, str]:
        key, token = await self.daemon.store.create_api_key("test", frozenset(scopes))
        return key.id, token


@dataclass
class GatewayFactory:
    root: Path
    daemons: list[Daemon] = field(default_factory=list)
    sims: dict[str, SimulatedModem] = field(default_factory=dict)

    async def __call__(
        self,
        *,
        webhooks: Sequence[WebhookConfig] = (),
        webhook_settings: WebhookSettings = FAST_WEBHOOKS,
        modems: Sequence[str] = ("alpha",),
        http: bool = True,
        report_delay: float = 0.02,
        callback_hosts: Sequence[str] = ("127.0.0.1",),  # the loopback subscriber
        clock: Callable[[], float] | None = None,  # the daemon's wall clock (default: real)
        sim_options: dict[str, dict[str, Any]] | None = None,  # per modem, for the simulator
        numbers: dict[str, str] | None = None,  # per modem, its configured `number =`
        replies: RepliesConfig | None = None,  # [replies]: follow-ups of expected replies
    ) -> Gateway:
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        key_file = data / "smsgw.key"
        if not key_file.exists():
            KeyRing.create(key_file)
        (self.root / "dev").mkdir(exist_ok=True)
        configs = []
        for name in modems:
            sim = self.sims.get(name)
            if sim is None:
                options: dict[str, Any] = {"report_delay": report_delay, "seed": 7}
                options |= (sim_options or {}).get(name, {})
                sim = SimulatedModem(self.root / "dev" / name, profile="quectel", **options)
                await sim.start()
                self.sims[name] = sim
            configs.append(
                ModemConfig(
                    name=name,
                    port=str(sim.path),
                    profile="quectel",
                    rate=RateConfig(per_minute=0),
                    number=(numbers or {}).get(name),
                )
            )
        config = Config(
            path=self.root / "smsgw.toml",
            server=ServerConfig(host="127.0.0.1", port=0, callback_hosts=tuple(callback_hosts)),
            store=StoreConfig(data_dir=data, key_file=key_file, durable=False),
            modems=tuple(configs),
            retry=RetryConfig(backoff_initial=0.05, backoff_max=0.2),
            inbound=InboundConfig(reassembly_timeout=600.0),
            webhooks=tuple(webhooks),
            replies=replies or RepliesConfig(),
        )
        settings = RuntimeSettings(
            supervision=FAST_SUPERVISION,
            webhooks=webhook_settings,
            serve_http=http,
        )
        daemon = Daemon(
            config,
            settings=settings,
            modem_factory=fast_modem,
            clock=clock or time.time,
        )
        self.daemons.append(daemon)
        await daemon.start()
        gateway = Gateway(daemon, {n: self.sims[n] for n in modems})

        async def ready() -> bool:
            return all(h.usable() for h in daemon.handles.values())

        await poll_until(ready, "modems ready")
        if http:
            assert daemon.api_url is not None
            gateway.url = daemon.api_url
        return gateway

    async def close(self) -> None:
        for daemon in self.daemons:
            with contextlib.suppress(Exception):
                await daemon.stop()
        for sim in self.sims.values():
            await sim.stop()


@pytest.fixture
async def make_gateway(tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    factory = GatewayFactory(tmp_path)
    try:
        yield factory
    finally:
        await factory.close()


SECRET = "whsec-test-0123456789abcdef"


def hook(
    url: str, *events: str, name: str = "main", secret: str = SECRET, **kw: Any
) -> WebhookConfig:
    from gateway.config import EventKind

    return WebhookConfig(name, url, tuple(EventKind(e) for e in events), secret, **kw)
