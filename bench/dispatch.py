"""Dispatch cost: messages per second through 1 and 4 modems, CPU per message, dead time.

smsgw runs as ``smsgw run`` in its own process (durable store, delivery reports on,
rate limits off) on zero-latency simulated modems in this process, over real ptys,
as ``bench/peers`` runs it. Each run POSTs ``--messages`` texts in batches and
measures, from the first POST:

- msg/s: segments the modems accepted, over the time until the last was;
- CPU ms/msg: the daemon's CPU, all in (intake, send, report, event), until every
  delivery report was applied (read from ``smsgw_delivery_reports_total``);
- the CPU of this process (the simulated modems and the client) per message,
  so a run starved by its own simulators shows as such;
- dead time: on each simulated modem's side of the pty, the gap between a ``+CMGS``
  answer written and the next ``AT+CMGS`` read, p50 and p99 over the run.

Each figure is the median of ``--runs`` runs; the load average is printed with
it, since the machine may be shared. ``--radio-time`` gives each segment that long in
the air, as the issue's dead-time figure does (the rate targets are for zero-latency
modems and are not judged then). ``--profile DIR`` runs the daemon under cProfile and
leaves one ``.prof`` file per run there.

    .venv/bin/python -m bench.dispatch [--runs 3] [--messages 2000] [--modems 1 4]
                                       [--radio-time 0.05] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.peers.contender import tree_cpu_seconds
from bench.peers.harness import POLL, running, texts
from bench.peers.smsgw import Smsgw

TARGET_RATE = {1: 1000.0, 4: 2000.0}
TARGET_CPU_MS = 0.5
TARGET_DEAD_P50_MS = 2.0
TARGET_DEAD_P99_MS = 5.0
DEADLINE = 120.0  # seconds a run may take before it is reported as stuck
REPORTS_METRIC = "smsgw_delivery_reports_total"


@dataclass(frozen=True)
class Run:
    rate: float
    cpu_ms: float
    bench_cpu_ms: float  # this process's: the simulated modems and the client
    dead_p50_ms: float
    dead_p99_ms: float


def dead_times(stamps: Sequence[tuple[float, str]]) -> list[float]:
    """Seconds from each answer to the next AT+CMGS read (answers with none after skipped)."""
    gaps = []
    answered: float | None = None
    for at, kind in stamps:
        if kind == "answer":
            answered = at
        elif answered is not None:
            gaps.append(at - answered)
            answered = None
    return gaps


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def reports_applied(session: aiohttp.ClientSession, url: str) -> float:
    async with session.get(url + "/metrics") as response:
        text = await response.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(REPORTS_METRIC + "{")
    )


async def one_run(modems: int, messages: int, profile: Path | None, radio_time: float) -> Run:
    with tempfile.TemporaryDirectory(prefix="smsgw-dispatch-") as tmp:
        smsgw = Smsgw(profile=profile)
        async with running(smsgw, Path(tmp), modems, radio_time=radio_time) as bench:
            stamps = [sim.time_sends() for sim in bench.sims]
            url, token = smsgw.url, smsgw.token
            async with aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {token}"}
            ) as session:
                reports = await reports_applied(session, url)
                start = bench.sent()
                target = start + messages
                cpu = tree_cpu_seconds(smsgw.pids())
                own_cpu = time.process_time()
                began = time.monotonic()
                await smsgw.enqueue(texts(messages))
                if await bench.until(lambda: bench.sent() >= target, DEADLINE) == float("inf"):
                    raise RuntimeError(f"{bench.sent() - start} of {messages} sent; see {tmp}")
                elapsed = time.monotonic() - began
                deadline = time.monotonic() + DEADLINE
                while await reports_applied(session, url) < reports + messages:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"delivery reports not all applied; see {tmp}")
                    await asyncio.sleep(POLL)  # the daemon applies them in its own process
                cpu = tree_cpu_seconds(smsgw.pids()) - cpu
                own_cpu = time.process_time() - own_cpu
            gaps = [gap for times in stamps for gap in dead_times(times)]
    return Run(
        rate=messages / elapsed,
        cpu_ms=1000 * cpu / messages,
        bench_cpu_ms=1000 * own_cpu / messages,
        dead_p50_ms=1000 * statistics.median(gaps),
        dead_p99_ms=1000 * percentile(gaps, 0.99),
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


async def main_async(args: argparse.Namespace) -> int:
    print(
        f"{args.runs} runs x {args.messages} texts, radio time {args.radio_time:g} s, median; "
        "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    all_met = True
    for modems in args.modems:
        runs = []
        for n in range(args.runs):
            profile = None
            if args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
                profile = args.profile / f"dispatch-{modems}m-{n}.prof"
            runs.append(await one_run(modems, args.messages, profile, args.radio_time))
        rate = statistics.median(r.rate for r in runs)
        cpu = statistics.median(r.cpu_ms for r in runs)
        own = statistics.median(r.bench_cpu_ms for r in runs)
        p50 = statistics.median(r.dead_p50_ms for r in runs)
        p99 = statistics.median(r.dead_p99_ms for r in runs)
        target = TARGET_RATE.get(modems)
        rate_ok = target is None or args.radio_time > 0 or rate >= target
        cpu_ok = cpu <= TARGET_CPU_MS
        dead_ok = p50 <= TARGET_DEAD_P50_MS and p99 <= TARGET_DEAD_P99_MS
        all_met = all_met and rate_ok and cpu_ok and dead_ok
        print(
            f"{modems} modem(s): {rate:7.0f} msg/s ({verdict(rate_ok)})   "
            f"{cpu:.3f} ms CPU/msg ({verdict(cpu_ok)})   "
            f"dead time p50 {p50:.2f} ms, p99 {p99:.2f} ms ({verdict(dead_ok)})\n"
            f"{'':13}runs: {', '.join(f'{r.rate:.0f}' for r in runs)} msg/s; "
            f"simulators and client {own:.3f} ms CPU/msg"
        )
    print("load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0 if all_met else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--modems", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument(
        "--radio-time", type=float, default=0.0, help="seconds each modem takes per segment"
    )
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
