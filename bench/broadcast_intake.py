"""Intake of a broadcast from CSV: time to the 202, time to expand, and the daemon's peak RSS.

The daemon (no modems, its durable SQLite store in a temporary directory, the HTTP API
on a free port) runs in a subprocess of its own per run, so its peak resident memory is
that run's alone; this process writes the CSV to disk and streams it to
``POST /v1/broadcasts``, as ``smsgw broadcast send`` does.

    .venv/bin/python bench/broadcast_intake.py [--recipients 50000] [--runs 3]

Per run: the load average before it, seconds to the 202 (every row checked and stored),
seconds until every row is a message (the background expansion), and the daemon's
peak RSS before the upload, at the 202 and at the end (by then the in-memory send queue
holds an entry per queued message, as it does for any send). Each figure's median is
printed last; then one run of a tenth of the size, so the memory can be compared across sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from gateway.config import Config, ServerConfig, StoreConfig
from gateway.crypto import KeyRing
from gateway.daemon import Daemon, tune_gc
from gateway.store.base import Scope, Template

TEMPLATE = "Hello {name|first}, flu shots are in at {place} from {day|date}. Reply STOP to opt out."
EXPAND_DEADLINE = 600.0  # seconds


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the daemon's process ---------------------------------------------------------------


async def _serve(data_dir: Path) -> None:
    KeyRing.create(data_dir / "smsgw.key")
    config = Config(
        path=data_dir / "smsgw.toml",
        server=ServerConfig(port=0, default_country="1"),
        store=StoreConfig(data_dir=data_dir, key_file=data_dir / "smsgw.key", durable=True),
        modems=(),
    )
    daemon = Daemon(config)
    await daemon.start()
    try:
        _, token = await daemon.store.create_api_key("bench", frozenset(Scope))
        now = time.time()
        await daemon.store.add_template(Template("flu", "reminder", TEMPLATE, None, now, now))
        print(json.dumps({"url": daemon.api_url, "token": token, "rss_mb": _peak_mb()}))
        sys.stdout.flush()
        loop = asyncio.get_running_loop()
        while (await loop.run_in_executor(None, sys.stdin.readline)).strip() != "done":
            print(json.dumps({"peak_rss_mb": _peak_mb()}))  # asked at the 202
            sys.stdout.flush()
        print(json.dumps({"peak_rss_mb": _peak_mb()}))
    finally:
        await daemon.stop()


# -- this process -----------------------------------------------------------------------


def _write_csv(path: Path, count: int) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["to", "name", "place", "day"])
        for i in range(count):
            writer.writerow([f"+1555{i:07d}", f"Patient{i} Lastname", "Main St", "2026-12-08"])


async def _one_run(csv_path: Path, count: int) -> dict[str, Any]:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="smsgw-bench-") as tmp:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            tmp,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stdin is not None
        started = json.loads(await proc.stdout.readline())
        url, headers = started["url"], {"Authorization": f"Bearer {started['token']}"}
        timeout = aiohttp.ClientTimeout(total=EXPAND_DEADLINE)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            began = time.perf_counter()
            with csv_path.open("rb") as data:
                async with session.post(
                    url + "/v1/broadcasts",
                    params={"name": "bench", "template": "flu"},
                    data=data,
                    headers={**headers, "Content-Type": "text/csv"},
                ) as resp:
                    accepted = await resp.json()
                    if resp.status != 202:
                        raise RuntimeError(f"refused: {accepted}")
            intake = time.perf_counter() - began
            proc.stdin.write(b"rss\n")
            await proc.stdin.drain()
            at_intake = json.loads(await proc.stdout.readline())["peak_rss_mb"]
            while True:
                async with session.get(
                    f"{url}/v1/broadcasts/{accepted['id']}", headers=headers
                ) as resp:
                    counts = (await resp.json())["counts"]
                if counts["pending"] == 0:
                    break
                if time.perf_counter() - began > EXPAND_DEADLINE:
                    raise RuntimeError("the expansion did not finish")
                await asyncio.sleep(0.1)  # a modelled polling period, as a client polls
            expanded = time.perf_counter() - began
        proc.stdin.write(b"done\n")
        await proc.stdin.drain()
        finished = json.loads(await proc.stdout.readline())
        await proc.wait()
    return {
        "load": load,
        "recipients": count,
        "intake_s": intake,
        "expanded_s": expanded,
        "rss_before_mb": started["rss_mb"],
        "rss_at_202_mb": at_intake,
        "peak_rss_mb": finished["peak_rss_mb"],
        "queued": counts["queued"],
    }


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['recipients']:6d} rows: 202 after {r['intake_s']:5.1f} s, "
        f"expanded after {r['expanded_s']:5.1f} s ({r['queued']} queued), "
        f"peak RSS: before {r['rss_before_mb']:.0f} MB, at the 202 {r['rss_at_202_mb']:.0f} MB, "
        f"at the end {r['peak_rss_mb']:.0f} MB (the send queue holds every message), "
        f"load average {r['load']:.2f}"
    )


async def _main(count: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="smsgw-bench-csv-") as tmp:
        big, small = Path(tmp) / "big.csv", Path(tmp) / "small.csv"
        _write_csv(big, count)
        _write_csv(small, count // 10)
        print(f"cores: {os.cpu_count()}; daemon with no modems, durable store")
        results = []
        for _ in range(runs):
            result = await _one_run(big, count)
            print("  run: " + _line(result))
            results.append(result)
        # Each figure's own median: the run with the median intake need not have the
        # median expansion or memory.
        median = {key: statistics.median(r[key] for r in results) for key in results[0]}
        median["queued"] = int(median["queued"])
        median["recipients"] = int(median["recipients"])
        print(f"median of {runs}, each figure: " + _line(median))
        print("a tenth of the size: " + _line(await _one_run(small, count // 10)))


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        tune_gc()  # as `smsgw run` does
        asyncio.run(_serve(Path(sys.argv[2])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(_main(args.recipients, args.runs))


if __name__ == "__main__":
    main()
