"""Intake throughput of the HTTP API: accepted messages per second and latency.

The server (API + the real daemon with no modems + its durable SQLite store in
a temporary directory) runs in this process; the load comes from a separate client process (this
script with ``--client``), so the client's JSON and HTTP work does not share the
server's event loop. Each run also prints the CPU both sides used, in cores: the
server's (event loop plus the store's writer thread; the part spent in the garbage
collector; per accepted message) and the client's, so a figure can be read against
the cores the machine has.

    .venv/bin/python bench/api_intake.py [--seconds 5] [--runs 3] [--service double]
                                         [--default-gc]

The server process sets the garbage collector up as ``smsgw run`` does
(``gateway.daemon.tune_gc``); ``--default-gc`` measures without that.

``--service double`` puts the tests' modem-less service (number check, segment
count, store) in front of the same store instead of the daemon: the ceiling of
the HTTP layer and the store without the daemon's queueing work.

Two loads, each run ``--runs`` times, reporting the median run:
  single — 32 clients, each POSTing one message at a time to /v1/messages;
  batch  — 2 clients POSTing batches of 1,000 to /v1/messages/batch.
Two more figures put a bottleneck where it is: the daemon's submit() without
HTTP (service + store), and the store's add_messages() alone, both in batches
of 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from gateway.config import Config, ServerConfig, StoreConfig
from gateway.core.service import GatewayService, SendRequest
from gateway.core.submission import ConcatReferences, SubmissionRules, prepare_message
from gateway.crypto import KeyRing
from gateway.daemon import Daemon, RuntimeSettings, tune_gc
from gateway.http import start_api
from gateway.store.base import Scope

SINGLE_CLIENTS = 32
BATCH_CLIENTS = 2
BATCH_SIZE = 1000
WARMUP_SECONDS = 1.0
BODY = "Reminder: your appointment at the clinic is tomorrow at 9:30. Reply C to cancel."


def _daemon(data_dir: Path) -> Daemon:
    """The real service; with no modems it accepts and queues (nothing is sent)."""
    KeyRing.create(data_dir / "smsgw.key")
    config = Config(
        path=data_dir / "smsgw.toml",
        server=ServerConfig(port=0, default_country="1", max_batch=BATCH_SIZE),
        store=StoreConfig(data_dir=data_dir, key_file=data_dir / "smsgw.key", durable=True),
        modems=(),
    )
    return Daemon(config, settings=RuntimeSettings(serve_http=False))


# -- client process ------------------------------------------------------------------


def _message(worker: int, n: int) -> dict[str, Any]:
    return {"to": f"+1555{worker:03d}{n % 10_000:04d}", "body": BODY, "tags": ["bench"]}


async def _client(url: str, token: str, mode: str, seconds: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    clients = SINGLE_CLIENTS if mode == "single" else BATCH_CLIENTS
    latencies: list[float] = []
    accepted = 0
    failed = 0
    measuring = False
    stop = False

    async def worker(index: int, session: aiohttp.ClientSession) -> None:
        nonlocal accepted, failed
        n = 0
        while not stop:
            if mode == "single":
                path, payload, count = "/v1/messages", _message(index, n), 1
            else:
                items = [_message(index, n + i) for i in range(BATCH_SIZE)]
                path, payload, count = "/v1/messages/batch", {"messages": items}, BATCH_SIZE
            n += count
            started = time.perf_counter()
            async with session.post(url + path, json=payload, headers=headers) as resp:
                await resp.read()
                ok = resp.status == 202
            if measuring:
                latencies.append(time.perf_counter() - started)
                if ok:
                    accepted += count
                else:
                    failed += count

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(worker(i, session)) for i in range(clients)]
        await asyncio.sleep(WARMUP_SECONDS)  # modelled load phase, not a wait for an event
        measuring = True
        began, cpu_began = time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds)
        measuring = False
        elapsed = time.perf_counter() - began
        client_cpu = time.process_time() - cpu_began
        stop = True
        await asyncio.gather(*tasks)
    latencies.sort()
    return {
        "mode": mode,
        "accepted": accepted,
        "failed": failed,
        "per_second": accepted / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None,
        "client_cores": client_cpu / elapsed,
    }


# -- server process ------------------------------------------------------------------


class _GcClock:
    """Time the collector runs in this process (a large queue makes full collections slow)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


GC_CLOCK = _GcClock()


def _server_cpu() -> float:
    """CPU seconds of this process, every thread (the store's writer thread too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _run_client(url: str, token: str, mode: str, seconds: float) -> dict[str, Any]:
    """One client run; adds the server's CPU (in cores) and GC share over the whole run."""
    began, cpu_began, gc_began = time.perf_counter(), _server_cpu(), GC_CLOCK.seconds
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--client",
        url,
        token,
        mode,
        str(seconds),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"client process failed with {proc.returncode}")
    result: dict[str, Any] = json.loads(out)
    wall = time.perf_counter() - began
    result["server_cores"] = (_server_cpu() - cpu_began) / wall
    result["gc_cores"] = (GC_CLOCK.seconds - gc_began) / wall
    return result


def _sends(tag: str) -> list[SendRequest]:
    return [SendRequest(to=f"+1666{i:07d}", body=BODY, tags=(tag,)) for i in range(BATCH_SIZE)]


async def _without_http(daemon: Daemon, runs: int) -> tuple[float, float]:
    """Messages per second through daemon.gateway.submit, and through store.add_messages alone."""
    submit_rates, store_rates = [], []
    rules = SubmissionRules(
        daemon.config.server.default_country, daemon.api.max_segments, daemon.router
    )
    references = ConcatReferences(random.Random(0))
    for _ in range(runs):
        began = time.perf_counter()
        for _ in range(5):
            await daemon.gateway.submit(_sends("bench"), None)
        submit_rates.append(5 * BATCH_SIZE / (time.perf_counter() - began))
        now = time.time()
        batches = [
            [
                prepare_message(r, rules, now=now, api_key=None, references=references)
                for r in _sends("bench")
            ]
            for _ in range(5)
        ]
        began = time.perf_counter()
        for batch in batches:
            await daemon.store.add_messages(batch)
        store_rates.append(5 * BATCH_SIZE / (time.perf_counter() - began))
    return statistics.median(submit_rates), statistics.median(store_rates)


def _double(daemon: Daemon) -> GatewayService:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.gateway.api.service_double import ServiceDouble

    return ServiceDouble(daemon.store, daemon.api, default_country="1")


async def _main(seconds: float, runs: int, service_name: str) -> None:
    with tempfile.TemporaryDirectory(prefix="smsgw-bench-") as tmp:
        daemon = _daemon(Path(tmp))
        await daemon.start()
        try:
            _, token = await daemon.store.create_api_key("bench", frozenset({Scope.SEND}))
            service = daemon.gateway if service_name == "daemon" else _double(daemon)
            server = await start_api(service, "127.0.0.1", 0, default_country="1")
            url = f"http://127.0.0.1:{server.port}"
            print(f"service: {type(service).__name__} (no modems); store: SqliteStore durable=True")
            print(f"load: separate client process, {seconds:.0f} s per run, median of {runs}")
            try:
                for mode in ("single", "batch"):
                    results = [await _run_client(url, token, mode, seconds) for _ in range(runs)]
                    for r in results:
                        print(
                            f"  {mode:6} run: {r['per_second']:9.0f} msg/s  "
                            f"p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
                            f"failed {r['failed']}  server {r['server_cores']:.2f} cores "
                            f"(GC {r['gc_cores']:.2f}, "
                            f"{1e6 * r['server_cores'] / r['per_second']:.0f} us/msg)  "
                            f"client {r['client_cores']:.2f} cores"
                        )
                    best = sorted(results, key=lambda r: r["per_second"])[len(results) // 2]
                    print(
                        f"{mode}: {best['per_second']:.0f} msg/s "
                        f"(p50 {best['p50_ms']:.1f} ms, p99 {best['p99_ms']:.1f} ms)"
                    )
            finally:
                await server.stop()
            submit_rate, store_rate = await _without_http(daemon, runs)
            print(f"daemon.gateway.submit without HTTP: {submit_rate:.0f} msg/s")
            print(f"store.add_messages alone:   {store_rate:.0f} msg/s")
        finally:
            await daemon.stop()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        url, token, mode, seconds = sys.argv[2:6]
        print(json.dumps(asyncio.run(_client(url, token, mode, float(seconds)))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--service", choices=("daemon", "double"), default="daemon")
    parser.add_argument(
        "--default-gc", action="store_true", help="keep Python's GC thresholds (no tune_gc)"
    )
    args = parser.parse_args()
    gc.callbacks.append(GC_CLOCK)
    if args.default_gc:
        print("garbage collector: Python's default thresholds")
    else:
        tune_gc()  # as `smsgw run` does
    asyncio.run(_main(args.seconds, args.runs, args.service))


if __name__ == "__main__":
    main()
