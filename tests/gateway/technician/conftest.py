"""A real daemon with simulated modems on real ptys and its HTTP API on loopback, for the
technician passthrough, the balance schedule and the audit trail."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from drivers.simulator import SimulatedModem
from gateway.config import (
    BalanceConfig,
    Config,
    InboundConfig,
    ModemConfig,
    RateConfig,
    RetryConfig,
    ServerConfig,
    StoreConfig,
)
from gateway.crypto import KeyRing
from gateway.daemon import Daemon, RuntimeSettings
from gateway.store.base import Scope
from tests.gateway.runtime.conftest import fast_modem, poll_until
from tests.support import FAST_SUPERVISION


@dataclass
class Gateway:
    daemon: Daemon
    sims: dict[str, SimulatedModem]
    config: Config
    url: str
    session: aiohttp.ClientSession
    admin: str = ""  # token
    admin_id: str = ""

    async def token(self, *scopes: Scope) -> tuple[str, str]:
        key, token = await self.daemon.store.create_api_key("test", frozenset(scopes))
        return key.id, token

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token or self.admin}"}
        async with self.session.request(
            method, self.url + path, json=body, headers=headers
        ) as resp:
            return resp.status, await resp.json()

    async def text(self, path: str) -> str:
        async with self.session.get(self.url + path) as resp:
            assert resp.status == 200
            return await resp.text()


@dataclass
class GatewayFactory:
    root: Path
    daemons: list[Daemon] = field(default_factory=list)
    sims: list[SimulatedModem] = field(default_factory=list)
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    async def __call__(
        self,
        modems: tuple[str, ...] = ("alpha",),
        *,
        balance: BalanceConfig | None = None,
        ussd_reply: str = "Balance: 12.34 USD",
        radio_time: float = 0.0,
    ) -> Gateway:
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        key_file = data / "smsgw.key"
        if not key_file.exists():
            KeyRing.create(key_file)
        (self.root / "dev").mkdir(exist_ok=True)
        sims: dict[str, SimulatedModem] = {}
        configs = []
        for name in modems:
            sim = SimulatedModem(
                self.root / "dev" / name,
                profile="quectel",
                ussd_reply=ussd_reply,
                radio_time=radio_time,
                seed=7,
            )
            await sim.start()
            self.sims.append(sim)
            sims[name] = sim
            configs.append(
                ModemConfig(
                    name=name,
                    port=str(sim.path),
                    profile="quectel",
                    rate=RateConfig(per_minute=0),
                    balance=balance,
                )
            )
        config = Config(
            path=self.root / "smsgw.toml",
            server=ServerConfig(host="127.0.0.1", port=0),
            store=StoreConfig(data_dir=data, key_file=key_file, durable=False),
            modems=tuple(configs),
            retry=RetryConfig(backoff_initial=0.05, backoff_max=0.2),
            inbound=InboundConfig(reassembly_timeout=600.0),
        )
        settings = RuntimeSettings(
            supervision=FAST_SUPERVISION,
        )
        daemon = Daemon(config, settings=settings, modem_factory=fast_modem)
        self.daemons.append(daemon)
        await daemon.start()

        async def ready() -> bool:
            return all(h.usable() for h in daemon.handles.values())

        await poll_until(ready, "modems ready")
        assert daemon.api_url is not None
        session = aiohttp.ClientSession()
        self.sessions.append(session)
        gateway = Gateway(daemon, sims, config, daemon.api_url, session)
        gateway.admin_id, gateway.admin = await gateway.token(Scope.ADMIN)
        return gateway

    async def close(self) -> None:
        for session in self.sessions:
            await session.close()
        for daemon in self.daemons:
            with contextlib.suppress(Exception):
                await daemon.stop()
        for sim in self.sims:
            await sim.stop()


@pytest.fixture
async def make_gateway(tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    factory = GatewayFactory(tmp_path)
    try:
        yield factory
    finally:
        await factory.close()
