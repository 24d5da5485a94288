"""The daemon as a user runs it: a subprocess, simulated modems on real ptys, HTTP only.

The simulators live in the test process (so tests can inject faults and read what was
"sent over the air"); the daemon opens their pty links like any serial port.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from drivers.simulator import SimulatedModem
from gateway.config import StoreConfig
from gateway.crypto import KeyRing
from gateway.store.backend import create_store
from gateway.store.base import Scope
from tests.support import free_port, poll_until

STARTUP_TIMEOUT = 30.0  # seconds, for the daemon to answer /readyz


@dataclass
class Gateway:
    root: Path
    config_path: Path
    data_dir: Path
    url: str
    token: str
    sims: dict[str, SimulatedModem]
    proc: asyncio.subprocess.Process | None = None
    session: aiohttp.ClientSession | None = None
    log_path: Path = field(default_factory=Path)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        assert self.session is not None
        headers = {**self.headers, **kwargs.pop("headers", {})}
        async with self.session.request(method, self.url + path, headers=headers, **kwargs) as r:
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.text()

    async def start(self, *, module: str = "gateway.cli") -> None:
        """``module``: what ``python -m`` runs (a test harness may wrap the CLI)."""
        self.log_path = self.root / f"daemon-{time.monotonic_ns()}.log"
        log = self.log_path.open("wb")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                module,
                "run",
                "--config",
                str(self.config_path),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            log.close()
        if self.session is None:
            self.session = aiohttp.ClientSession()

        async def answers() -> bool:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError(f"daemon exited: {self.log_path.read_text()}")
            try:
                status, _ = await self.request("GET", "/readyz")
            except aiohttp.ClientError:
                return False
            return status == 200

        await poll_until(answers, "the daemon to become ready", STARTUP_TIMEOUT)

    async def kill(self) -> None:
        """kill -9: no chance to clean up."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(20):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode if self.proc.returncode is not None else -1

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


MODEMS = (("alpha", "quectel"), ("bravo", "simcom"), ("charlie", "generic"))


def write_config(root: Path, port: int, sims: dict[str, SimulatedModem], extra: str = "") -> Path:
    lines = [
        "[server]",
        'host = "127.0.0.1"',
        f"port = {port}",
        'default_country = "1"',
        "",
        "[store]",
        f'data_dir = "{root / "data"}"',
        "",
        "[retry]",
        "backoff_initial = 0.2",
        "backoff_max = 1.0",
        "",
    ]
    for name, sim in sims.items():
        profile = dict(MODEMS).get(name, "generic")
        lines += [
            "[[modems]]",
            f'name = "{name}"',
            f'port = "{sim.path}"',
            f'profile = "{profile}"',
            "command_timeout = 2.0",
            "rate = { per_minute = 0 }",
            "",
        ]
    path = root / "smsgw.toml"
    path.write_text("\n".join(lines) + extra)
    return path


@pytest.fixture
def modems() -> tuple[tuple[str, str], ...]:
    """The simulated modems (name, profile); a test may parametrize ``modems`` for fewer."""
    return MODEMS


@pytest.fixture
async def gateway(tmp_path: Path, modems: tuple[tuple[str, str], ...]) -> AsyncIterator[Gateway]:
    sims: dict[str, SimulatedModem] = {}
    for name, profile in modems:
        sim = SimulatedModem(tmp_path / "dev" / name, profile=profile, report_delay=0.05)
        sims[name] = sim
    (tmp_path / "dev").mkdir()
    for sim in sims.values():
        await sim.start()
    config_path = write_config(tmp_path, free_port(), sims)
    data = tmp_path / "data"
    init = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "init",
        "--config",
        str(config_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await init.communicate()
    assert init.returncode == 0, out.decode(errors="replace")
    keyring = KeyRing.load(data / "smsgw.key")
    store = create_store(StoreConfig(data_dir=data, key_file=data / "smsgw.key"), keyring)
    await store.open()
    _, token = await store.create_api_key("e2e", frozenset(Scope))
    await store.close()
    port = int(config_path.read_text().split("port = ")[1].split("\n")[0])
    gw = Gateway(
        root=tmp_path,
        config_path=config_path,
        data_dir=data,
        url=f"http://127.0.0.1:{port}",
        token=token,
        sims=sims,
    )
    try:
        await gw.start()
        yield gw
    finally:
        if gw.proc is not None:
            await gw.stop()
        if gw.session is not None:
            await gw.session.close()
        for sim in sims.values():
            await sim.stop()
