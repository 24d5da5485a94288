"""A temporary directory plays /dev/serial/by-id: simulated modems publish their pty
links there under udev-style names, and a daemon watches a glob over it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from drivers.simulator import SimulatedModem
from gateway.config import (
    Config,
    ModemConfig,
    RateConfig,
    RetryConfig,
    RouteConfig,
    ServerConfig,
    StoreConfig,
)
from gateway.crypto import KeyRing
from gateway.daemon import Daemon, RuntimeSettings
from tests.gateway.runtime.conftest import fast_modem
from tests.support import FAST_SUPERVISION

PATTERN = "usb-Sim_*-if02-port0"
DEVICE_POLL_INTERVAL = 0.02  # seconds: the daemon's glob poll, shrunk


def by_id_name(serial: str) -> str:
    return f"usb-Sim_Modem_{serial}-if02-port0"


@dataclass
class Bench:
    root: Path
    by_id: Path
    sims: list[SimulatedModem] = field(default_factory=list)
    daemons: list[Daemon] = field(default_factory=list)

    async def plug(self, serial: str, *, imei: str | None = None) -> SimulatedModem:
        """A stick whose by-id link carries ``serial``."""
        return await self._sim(self.by_id / by_id_name(serial), imei)

    async def plain(self, name: str, *, imei: str | None = None) -> SimulatedModem:
        (self.root / "dev").mkdir(exist_ok=True)
        return await self._sim(self.root / "dev" / name, imei)

    async def _sim(self, path: Path, imei: str | None) -> SimulatedModem:
        sim = SimulatedModem(path, profile="quectel", imei=imei, report_delay=0.02, seed=3)
        self.sims.append(sim)
        await sim.start()
        return sim

    async def daemon(
        self, modems: Sequence[ModemConfig], routes: Sequence[RouteConfig] = ()
    ) -> Daemon:
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        key_file = data / "smsgw.key"
        if not key_file.exists():
            KeyRing.create(key_file)
        config = Config(
            path=self.root / "smsgw.toml",
            server=ServerConfig(host="127.0.0.1", port=0),
            store=StoreConfig(data_dir=data, key_file=key_file, durable=False),
            modems=tuple(modems),
            routes=tuple(routes),
            retry=RetryConfig(backoff_initial=0.05, backoff_max=0.2),
        )
        settings = RuntimeSettings(
            supervision=FAST_SUPERVISION,
            device_poll_interval=DEVICE_POLL_INTERVAL,
            serve_http=False,
        )
        daemon = Daemon(config, settings=settings, modem_factory=fast_modem)
        self.daemons.append(daemon)
        await daemon.start()
        return daemon

    def family(
        self, name: str = "sticks", *, tags: tuple[str, ...] = (), imei: str | None = None
    ) -> ModemConfig:
        """A ``[[modems]]`` table whose port is the glob over the by-id directory."""
        return ModemConfig(
            name=name,
            port=str(self.by_id / PATTERN),
            profile="quectel",
            tags=tags,
            rate=RateConfig(per_minute=0),
            imei=imei,
        )

    def plain_config(
        self, name: str, *, tags: tuple[str, ...] = (), imei: str | None = None
    ) -> ModemConfig:
        return ModemConfig(
            name=name,
            port=str(self.root / "dev" / name),
            profile="quectel",
            tags=tags,
            rate=RateConfig(per_minute=0),
            imei=imei,
        )

    async def close(self) -> None:
        for daemon in self.daemons:
            await daemon.stop()
        for sim in self.sims:
            await sim.stop()


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    made = Bench(tmp_path, by_id)
    try:
        yield made
    finally:
        await made.close()
