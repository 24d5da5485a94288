"""The real daemon in a subprocess (``smsgw init`` then ``smsgw run``) on simulated modems.

The simulators live in the test process, so a test can unplug one (``vanish``) and
see the daemon notice; the daemon opens their pty links like any serial port.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from drivers.simulator import SimulatedModem
from tests.support import free_port, poll_until

STARTUP_TIMEOUT = 30.0  # seconds for the daemon to answer /readyz
STOP_TIMEOUT = 20.0  # seconds for a graceful stop before SIGKILL


@dataclass
class RunningDaemon:
    url: str
    token: str
    sims: dict[str, SimulatedModem]
    proc: asyncio.subprocess.Process
    log_path: Path
    session: aiohttp.ClientSession

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def get_json(self, path: str) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.session.get(self.url + path, headers=headers) as response:
            assert response.status == 200, (path, response.status, await response.text())
            return await response.json()


def write_config(root: Path, port: int, sims: dict[str, SimulatedModem]) -> Path:
    lines = [
        "[server]",
        'host = "127.0.0.1"',
        f"port = {port}",
        "",
        "[store]",
        f'data_dir = "{root / "data"}"',
        "durable = false",
        "",
    ]
    for name, sim in sims.items():
        lines += [
            "[[modems]]",
            f'name = "{name}"',
            f'port = "{sim.path}"',
            f'profile = "{sim.profile.name}"',
            "",
        ]
    path = root / "smsgw.toml"
    path.write_text("\n".join(lines))
    return path


async def smsgw(config: Path, *command: str, log: Path | None = None) -> Any:
    """``smsgw COMMAND... --config CONFIG`` as a subprocess; output to ``log`` or a pipe."""
    args = (sys.executable, "-m", "gateway.cli", *command, "--config", str(config))
    if log is None:
        return await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            *args, stdout=out, stderr=asyncio.subprocess.STDOUT
        )


async def initialise(config: Path) -> str:
    """``smsgw init``; the admin token it prints."""
    init = await smsgw(config, "init")
    out, _ = await init.communicate()
    assert init.returncode == 0, out.decode(errors="replace")
    return str(out.decode().strip().splitlines()[-1].strip())


@asynccontextmanager
async def running_daemon(
    root: Path,
    modems: dict[str, dict[str, Any]],
    *,
    setup: Callable[[Path], Awaitable[str]] = initialise,
) -> AsyncIterator[RunningDaemon]:
    """``modems``: name -> SimulatedModem keyword arguments (profile, iccid, ...);
    ``setup`` prepares the data directory from the config file and returns an admin token."""
    sims = {
        name: SimulatedModem(root / "dev" / name, **options) for name, options in modems.items()
    }
    for sim in sims.values():
        await sim.start()
    proc: asyncio.subprocess.Process | None = None
    try:
        port = free_port()
        config = write_config(root, port, sims)
        token = await setup(config)
        log_path = root / "daemon.log"
        proc = await smsgw(config, "run", log=log_path)
        async with aiohttp.ClientSession() as session:
            daemon = RunningDaemon(f"http://127.0.0.1:{port}", token, sims, proc, log_path, session)

            async def ready() -> bool:
                if proc is not None and proc.returncode is not None:
                    raise AssertionError(f"daemon exited:\n{daemon.log()}")
                try:
                    async with session.get(daemon.url + "/readyz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await poll_until(ready, "the daemon to become ready", STARTUP_TIMEOUT)
            yield daemon
    finally:
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for sim in sims.values():
            await sim.stop()
