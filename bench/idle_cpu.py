"""Idle CPU of the daemon: what it costs to watch modems that have nothing to send.

Three processes, so only the daemon is measured: simulated modems
(``python -m drivers.simulator``), the daemon (``smsgw init`` then ``smsgw run``
on a generated config) and this script, which waits until every modem is ready,
lets it settle, then reads the daemon's CPU time from /proc/<pid>/stat over the
measuring window and prints it as a percentage of one core (target: < 1 %).

    .venv/bin/python bench/idle_cpu.py [--seconds 60] [--modems 8] [--settle 5] [--watched]

``--watched`` adds what a watched gateway serves meanwhile: a Prometheus scrape of
``/metrics`` every 15 s and one open status page polling every 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

STARTUP_TIMEOUT = 60.0  # seconds for the daemon and all modems to be ready
STOP_TIMEOUT = 20.0  # seconds for a graceful stop
POLL_INTERVAL = 0.2
TARGET_PERCENT = 1.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(root: Path, port: int, ports: list[str]) -> Path:
    lines = [
        "[server]",
        'host = "127.0.0.1"',
        f"port = {port}",
        "",
        "[store]",
        f'data_dir = "{root / "data"}"',
        "",
        "[logging]",
        'level = "warning"',
        "",
    ]
    for i, path in enumerate(ports):
        lines += ["[[modems]]", f'name = "modem-{i + 1}"', f'port = "{path}"', ""]
    config = root / "smsgw.toml"
    config.write_text("\n".join(lines))
    return config


async def start_simulators(root: Path, count: int, profile: str) -> tuple[Any, list[str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drivers.simulator", "--dir", str(root / "sims"),
        "--count", str(count), "--profile", profile,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    ports: list[str] = []
    async with asyncio.timeout(STARTUP_TIMEOUT):
        while len(ports) < count:
            line = await proc.stdout.readline()
            if not line:
                raise RuntimeError("the simulator exited before publishing its ports")
            ports.append(line.decode().strip())
    return proc, ports


async def wait_ready(url: str, token: str, count: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + STARTUP_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url + "/v1/modems", headers=headers) as response:
                    if response.status == 200:
                        modems = (await response.json())["modems"]
                        if sum(m["state"] == "ready" for m in modems) == count:
                            return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"not all {count} modems ready after {STARTUP_TIMEOUT:g} s")
            await asyncio.sleep(POLL_INTERVAL)


SCRAPE_INTERVAL = 15.0  # seconds, Prometheus' usual
PAGE_POLL_INTERVAL = 3.0  # seconds, the status page's default
PAGE_PATHS = ("/v1/modems", "/v1/status", "/v1/events?limit=20")


async def watch(url: str, token: str) -> None:
    """Scrape and poll like Prometheus and one open status page, until cancelled."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        next_scrape = time.monotonic()
        while True:
            if time.monotonic() >= next_scrape:
                async with session.get(url + "/metrics") as response:
                    await response.read()
                next_scrape += SCRAPE_INTERVAL
            for path in PAGE_PATHS:
                async with session.get(url + path, headers=headers) as response:
                    await response.read()
            await asyncio.sleep(PAGE_POLL_INTERVAL)  # a modelled polling period


async def stop(proc: Any) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def measure(seconds: float, modems: int, settle: float, profile: str, watched: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="smsgw-idle-") as tmp:
        root = Path(tmp)
        sims, ports = await start_simulators(root, modems, profile)
        daemon = None
        try:
            port = free_port()
            config = write_config(root, port, ports)
            init = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway.cli", "init", "--config", str(config),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            out, _ = await init.communicate()
            if init.returncode != 0:
                raise RuntimeError(out.decode(errors="replace"))
            token = out.decode().strip().splitlines()[-1].strip()
            with (root / "daemon.log").open("wb") as log:
                daemon = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "gateway.cli", "run", "--config", str(config),
                    stdout=log, stderr=asyncio.subprocess.STDOUT,
                )  # fmt: skip
            url = f"http://127.0.0.1:{port}"
            await wait_ready(url, token, modems)
            await asyncio.sleep(settle)  # start-up work (init, first health polls) ends

            watcher = asyncio.create_task(watch(url, token)) if watched else None
            daemon_start, sims_start = cpu_seconds(daemon.pid), cpu_seconds(sims.pid)
            wall_start = time.monotonic()
            await asyncio.sleep(seconds)  # the measuring window
            wall = time.monotonic() - wall_start
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            daemon_cpu = cpu_seconds(daemon.pid) - daemon_start
            sims_cpu = cpu_seconds(sims.pid) - sims_start
            percent = 100.0 * daemon_cpu / wall
            verdict = "ok" if percent < TARGET_PERCENT else "over target"
            load = "scraped every 15 s, one status page open" if watched else "unwatched"
            print(f"idle daemon, {modems} ready modems ({profile}), {load}, {wall:.1f} s window:")
            print(f"  daemon CPU   {daemon_cpu:.2f} s = {percent:.2f} % of one core "
                  f"(target < {TARGET_PERCENT:g} %: {verdict})")  # fmt: skip
            print(f"  daemon RSS   {rss_mib(daemon.pid):.1f} MiB; "
                  f"{cpu_seconds(daemon.pid):.2f} s CPU since start")  # fmt: skip
            sims_percent = 100.0 * sims_cpu / wall
            print(f"  simulators   {sims_cpu:.2f} s = {sims_percent:.2f} % (not counted)")
            return 0 if percent < TARGET_PERCENT else 1
        finally:
            if daemon is not None:
                await stop(daemon)
            await stop(sims)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measuring window (60)")
    parser.add_argument("--modems", type=int, default=8, help="simulated modems (8)")
    parser.add_argument("--settle", type=float, default=5.0, help="wait after ready (5)")
    parser.add_argument("--profile", default="generic", help="simulator profile (generic)")
    parser.add_argument("--watched", action="store_true", help="scrape and poll meanwhile")
    args = parser.parse_args()
    return asyncio.run(measure(args.seconds, args.modems, args.settle, args.profile, args.watched))


if __name__ == "__main__":
    sys.exit(main())
