"""``python -m drivers.simulator``: run simulated modems until SIGINT/SIGTERM (demo, benchmarks)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from drivers.simulator.modem import DEMO_TEXT, SimulatedModem
from drivers.simulator.profiles import PROFILES

DEMO_SENDER = "+15550009999"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m drivers.simulator",
        description="Run simulated modems on pseudo-terminals (links DIR/sim0..N-1).",
    )
    p.add_argument("--dir", required=True, type=Path, help="directory for the port links")
    p.add_argument("--count", type=int, default=1, help="number of modems (default 1)")
    p.add_argument("--profile", choices=PROFILES, default="generic")
    p.add_argument("--radio-time", type=float, default=0.5, help="seconds per CMGS segment")
    p.add_argument(
        "--report-delay",
        type=float,
        default=2.0,
        help="seconds until a status report (negative: no reports)",
    )
    p.add_argument(
        "--inbound-every",
        type=float,
        default=None,
        help="seconds between demo inbound texts to every modem (default: none)",
    )
    return p


async def run_cli(argv: Sequence[str] | None = None) -> int:
    """Start the modems, print their paths, run until SIGINT/SIGTERM; the exit status."""
    args = _parser().parse_args(argv)
    if args.count < 1:
        sys.stderr.write("--count must be >= 1\n")
        return 2
    report_delay = None if args.report_delay < 0 else args.report_delay
    sims = [
        SimulatedModem(
            args.dir / f"sim{i}",
            profile=args.profile,
            radio_time=args.radio_time,
            report_delay=report_delay,
            seed=i,
        )
        for i in range(args.count)
    ]
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        for sim in sims:
            await sim.start()
            sys.stdout.write(f"{sim.path}\n")
        sys.stdout.flush()
        if args.inbound_every:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(args.inbound_every):
                        await stop.wait()
                if not stop.is_set():
                    for sim in sims:
                        sim.deliver(DEMO_SENDER, DEMO_TEXT)
        else:
            await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        for sim in sims:
            await sim.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run_cli(argv))
