"""Driver overhead: segments per second through one modem, and CPU time per segment.

One ``Modem`` sends pre-encoded segments (AT+CMGS, prompt, PDU, +CMGS answer) as fast
as a simulated modem with no radio time and no status reports answers them, over a
real pseudo-terminal. Two set-ups:

- ``inproc``: the simulator runs in this process, so its CPU is included;
- ``subprocess``: the simulator runs as ``python -m drivers.simulator``; this
  process's CPU is then the driver's alone, and the simulator's is read from /proc.

Each figure is the median of ``--runs`` runs of ``--segments`` segments (targets:
>= 1,000 segments/s, < 0.4 ms driver CPU per segment).

    .venv/bin/python bench/driver_overhead.py [--runs 5] [--segments 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from drivers.modem import Modem, ModemSettings
from drivers.pdu import SubmitPdu, encode
from drivers.simulator.modem import SimulatedModem

READY_TIMEOUT = 30.0  # seconds for the modem to initialise
SIM_START_TIMEOUT = 30.0  # seconds for the simulator subprocess to print its port
TARGET_RATE = 1000.0
TARGET_CPU_MS = 0.4
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RECIPIENT = "+15550001111"
TEXT = "Reminder: your appointment is tomorrow at 10:00. Reply STOP to opt out."


@dataclass(frozen=True)
class Run:
    rate: float  # segments per second (wall clock)
    cpu_ms: float  # this process's CPU per segment
    sim_cpu_ms: float | None  # the simulator subprocess's CPU per segment


def proc_cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@asynccontextmanager
async def inproc_simulator(directory: Path) -> AsyncIterator[tuple[str, int | None]]:
    sim = SimulatedModem(directory / "sim0", radio_time=0.0, report_delay=None, seed=1)
    await sim.start()
    try:
        yield str(sim.path), None
    finally:
        await sim.stop()


@asynccontextmanager
async def subprocess_simulator(directory: Path) -> AsyncIterator[tuple[str, int | None]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "drivers.simulator",
        "--dir",
        str(directory),
        "--radio-time",
        "0",
        "--report-delay",
        "-1",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(SIM_START_TIMEOUT):
            path = (await proc.stdout.readline()).decode().strip()
        yield path, proc.pid
    finally:
        if proc.returncode is None:
            proc.terminate()
            async with asyncio.timeout(SIM_START_TIMEOUT):
                await proc.wait()


async def measure(mode: str, runs: int, segments: int) -> list[Run]:
    pdus: list[SubmitPdu] = encode(RECIPIENT, TEXT, request_report=False)
    work = [pdus[i % len(pdus)] for i in range(segments)]  # encoded once, outside the timing
    simulator = inproc_simulator if mode == "inproc" else subprocess_simulator
    results = []
    with tempfile.TemporaryDirectory(prefix="smsgw-bench-") as tmp:
        async with simulator(Path(tmp)) as (port, sim_pid):
            modem = Modem(ModemSettings(port=port, sweep_interval=3600.0), name="bench")
            await modem.start()
            try:
                await modem.wait_ready(READY_TIMEOUT)
                for pdu in work[:50]:  # warm-up
                    await modem.send(pdu)
                for _ in range(runs):
                    sim_before = proc_cpu_seconds(sim_pid) if sim_pid else 0.0
                    cpu_before = time.process_time()
                    wall_before = time.perf_counter()
                    for pdu in work:
                        await modem.send(pdu)
                    wall = time.perf_counter() - wall_before
                    cpu = time.process_time() - cpu_before
                    sim_cpu = proc_cpu_seconds(sim_pid) - sim_before if sim_pid else None
                    results.append(
                        Run(
                            rate=segments / wall,
                            cpu_ms=cpu / segments * 1000,
                            sim_cpu_ms=None if sim_cpu is None else sim_cpu / segments * 1000,
                        )
                    )
            finally:
                await modem.stop()
    return results


def report(mode: str, runs: list[Run]) -> None:
    rate = statistics.median(r.rate for r in runs)
    cpu = statistics.median(r.cpu_ms for r in runs)
    label = "driver + simulator" if mode == "inproc" else "driver only"
    print(f"{mode:>10}: {rate:8.0f} segments/s   {cpu:.3f} ms CPU/segment ({label})")
    sims = [r.sim_cpu_ms for r in runs if r.sim_cpu_ms is not None]
    if sims:
        print(f"{'':>10}  simulator subprocess: {statistics.median(sims):.3f} ms CPU/segment")


async def main_async(args: argparse.Namespace) -> int:
    print(
        f"{args.runs} runs x {args.segments} segments, median; "
        f"targets >= {TARGET_RATE:.0f}/s, < {TARGET_CPU_MS} ms driver CPU/segment"
    )
    figures = {}
    for mode in args.modes:
        runs = await measure(mode, args.runs, args.segments)
        report(mode, runs)
        figures[mode] = runs
    driver_runs = figures.get("subprocess") or figures.get("inproc") or []
    ok = bool(driver_runs) and (
        statistics.median(r.rate for r in driver_runs) >= TARGET_RATE
        and statistics.median(r.cpu_ms for r in driver_runs) < TARGET_CPU_MS
    )
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--segments", type=int, default=2000)
    parser.add_argument(
        "--modes", nargs="+", choices=("inproc", "subprocess"), default=["inproc", "subprocess"]
    )
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
