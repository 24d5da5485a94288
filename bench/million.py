"""A million queued messages: store size, memory, restart time and read latency.

Fills a durable store with ``--messages`` queued messages through the store's own API
(``Store.add_messages`` in batches, each audited as a send is; no HTTP), sends a few
through a pretend modem so that state and modem filters find something, then, ``--runs``
times: starts ``smsgw run`` on it as its own process (no modems), and measures

- the time from the process start until the API answers ``/healthz``, and until the
  queue is loaded (its log line);
- every list query of the API (messages by state, modem, tag, number, time window,
  the next page of a cursor, a reading key's own; inbound; audit) and ``/metrics``,
  each the median of three calls;
- the process's RSS after the queries (and its peak);

and prints the medians over the runs with the load average beside them.

    .venv/bin/python bench/million.py [--messages 1000000] [--runs 3] [--data-dir DIR]

``--data-dir`` keeps the filled store there and reuses it on the next run (filling a
million takes a minute or two); without it a temporary directory is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import aiohttp

from gateway.config import load_config
from gateway.core.service import SendRequest
from gateway.core.submission import ConcatReferences, SubmissionRules, prepare_message
from gateway.crypto import KeyRing
from gateway.daemon import Daemon, RuntimeSettings
from gateway.ids import new_id
from gateway.store.base import MessageState, NewMessage, Priority, Scope

BATCH: Final = 1_000  # as the API's batch endpoint takes them
PATIENTS: Final = 50_000  # distinct numbers, as in a campaign to a clinic's patients
CAMPAIGNS: Final = 10  # tags ("campaign-N"), each on a tenth of the messages
RARE_EVERY: Final = 1_000  # one message in this many also carries the tag "rare"
SENT: Final = 1_000  # messages sent through modem m0 after the fill
FAILED: Final = 100  # and failed on modem m1
CALLS: Final = 3  # each query's median is of this many calls
START_TIMEOUT: Final = 120.0  # seconds for a restart to listen and load
QUEUE_LOADED: Final = "queue rebuilt"  # the daemon's log line once the queue is loaded
BODY: Final = "Reminder: your appointment at the clinic is tomorrow at 9:30. Reply C to cancel."
STATE_FILE: Final = "million.json"  # the bench's own notes in the data dir: tokens, size


def _number(i: int) -> str:
    return f"+1555{i % PATIENTS:07d}"


def _write_config(data: Path, port: int) -> Path:
    path = data / "smsgw.toml"
    path.write_text(
        "\n".join(
            [
                "[server]",
                'host = "127.0.0.1"',
                f"port = {port}",
                'default_country = "1"',
                "",
                "[store]",
                f'data_dir = "{data}"',
                f'key_file = "{data / "smsgw.key"}"',
                "durable = true",
                "",
                # Named so that the messages the bench sends through them are theirs;
                # disabled, so the queue stays put while it is measured.
                "[[modems]]",
                'name = "m0"',
                'port = "/dev/null"',
                "enabled = false",
                "",
                "[[modems]]",
                'name = "m1"',
                'port = "/dev/null"',
                "enabled = false",
                "",
                "[logging]",
                'level = "info"',
                "",
            ]
        )
    )
    return path


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the fill --------------------------------------------------------------------------


async def _fill(data: Path, count: int) -> dict[str, Any]:
    """The store filled with ``count`` queued messages, some sent and failed; returns
    the bench's notes (tokens, ids, timings)."""
    KeyRing.create(data / "smsgw.key")
    config = load_config(_write_config(data, 0))
    daemon = Daemon(config, settings=RuntimeSettings(serve_http=False))
    await daemon.start()
    try:
        store = daemon.store
        _, admin = await store.create_api_key("bench-admin", frozenset({Scope.ADMIN}))
        client, client_token = await store.create_api_key(
            "bench-client", frozenset({Scope.SEND, Scope.READ})
        )
        rules = SubmissionRules("1", daemon.api.max_segments, daemon.router)
        now = time.time()
        template = prepare_message(
            SendRequest(to=_number(0), body=BODY),
            rules,
            now=now,
            api_key=client,
            references=ConcatReferences(random.Random(0)),
        )
        priorities = (Priority.NORMAL, Priority.NORMAL, Priority.BULK, Priority.URGENT)
        began = time.perf_counter()
        sent_ids: list[str] = []
        for start in range(0, count, BATCH):
            batch: list[NewMessage] = []
            for i in range(start, min(count, start + BATCH)):
                tags: tuple[str, ...] = (f"campaign-{i * CAMPAIGNS // count}",)
                if i % RARE_EVERY == 0:
                    tags += ("rare",)
                batch.append(
                    replace(
                        template,
                        id=new_id("msg"),
                        to=_number(i),
                        priority=priorities[i % len(priorities)],
                        concat_ref=i % 256,
                        tags=tags,
                    )
                )
            await store.add_messages(batch, audited_by=(client.id, "message.send"))
            if len(sent_ids) < SENT + FAILED:
                sent_ids += [m.id for m in batch[: SENT + FAILED - len(sent_ids)]]
            done = start + len(batch)
            if done % 100_000 == 0 or done == count:
                rate = done / (time.perf_counter() - began)
                print(f"  filled {done:>9,} ({rate:,.0f} msg/s)", flush=True)
        fill_seconds = time.perf_counter() - began
        for n, message_id in enumerate(sent_ids):
            modem = "m0" if n < SENT else "m1"
            await store.segment_sending(message_id, 1, modem)
            if n < SENT:
                await store.segment_sent(message_id, 1, modem, n % 256, time.time())
            else:
                await store.finish(
                    message_id, MessageState.FAILED, error_code="bench", error_text="bench"
                )
    finally:
        await daemon.stop()
    notes = {
        "messages": count,
        "admin": admin,
        "client": client_token,
        "fill_seconds": fill_seconds,
        "created_at": now,
        "sample_number": _number(7),
    }
    (data / STATE_FILE).write_text(json.dumps(notes))
    return notes


# -- one restart -------------------------------------------------------------------------


def _rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (the machine is shared: wall time
    to listening depends on the load, this does not)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it holds, within START_TIMEOUT."""
    deadline = time.monotonic() + START_TIMEOUT
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {START_TIMEOUT:g} s")
        await asyncio.sleep(0.01)  # a polling period, not a wait for an event


def _queries(notes: dict[str, Any], first: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """name → (path, token); ``first`` is a first page of queued messages (its cursor)."""
    admin, client = notes["admin"], notes["client"]
    mid = notes["created_at"] + 1.0
    number = notes["sample_number"].replace("+", "%2B")
    return {
        "messages": ("/v1/messages?limit=100", admin),
        "state=queued": ("/v1/messages?state=queued&limit=100", admin),
        "state=queued, next page": (
            f"/v1/messages?state=queued&limit=100&cursor={first['next_cursor']}",
            admin,
        ),
        "state=sent": ("/v1/messages?state=sent&limit=100", admin),
        "state=failed": ("/v1/messages?state=failed&limit=100", admin),
        "state=delivered (none)": ("/v1/messages?state=delivered&limit=100", admin),
        "modem=m0": ("/v1/messages?modem=m0&limit=100", admin),
        "state=failed&modem=m1": ("/v1/messages?state=failed&modem=m1&limit=100", admin),
        "tag=campaign-0 (oldest)": ("/v1/messages?tag=campaign-0&limit=100", admin),
        "tag=rare": ("/v1/messages?tag=rare&limit=100", admin),
        "state=queued&tag=rare": ("/v1/messages?state=queued&tag=rare&limit=100", admin),
        "to=one patient": (f"/v1/messages?to={number}&limit=100", admin),
        "category=care": ("/v1/messages?category=care&limit=100", admin),
        "since..until (1 s)": (
            f"/v1/messages?since={_rfc3339(mid)}&until={_rfc3339(mid + 1)}&limit=100",
            admin,
        ),
        "own key: messages": ("/v1/messages?limit=100", client),
        "own key: state=failed": ("/v1/messages?state=failed&limit=100", client),
        "inbound": ("/v1/inbound?limit=100", admin),
        "inbound, own key": ("/v1/inbound?limit=100", client),
        "audit": ("/v1/audit?limit=100", admin),
        "/metrics": ("/metrics", ""),
    }


def _rfc3339(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


async def _get(session: aiohttp.ClientSession, url: str, token: str) -> tuple[float, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    began = time.perf_counter()
    async with session.get(url, headers=headers) as response:
        body = await response.read()
        took = time.perf_counter() - began
        if response.status != 200:  # a filter this version lacks: no figure
            return float("nan"), None
    content = json.loads(body) if response.content_type == "application/json" else None
    return took, content


async def _restart(data: Path, notes: dict[str, Any]) -> dict[str, float]:
    port = _free_port()
    config = _write_config(data, port)
    url = f"http://127.0.0.1:{port}"
    log_path = data / "daemon.log"
    figures: dict[str, float] = {}
    with log_path.open("wb") as log:
        began = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.cli",
            "run",
            "--config",
            str(config),
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        async with aiohttp.ClientSession() as session:

            async def listening() -> bool:
                if proc.returncode is not None:
                    raise RuntimeError(f"the daemon exited: {log_path.read_text()[-2000:]}")
                try:
                    async with session.get(url + "/healthz") as response:
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            async def loaded() -> bool:
                return QUEUE_LOADED in log_path.read_text(errors="replace")

            await _until(listening, "the API")
            figures["listening after start (s)"] = time.perf_counter() - began
            figures["CPU until listening (s)"] = _cpu_seconds(proc.pid)
            await _until(loaded, "the queue")
            figures["queue loaded after start (s)"] = time.perf_counter() - began
            _, first = await _get(session, url + "/v1/messages?state=queued&limit=100",
                                  notes["admin"])  # fmt: skip
            for name, (path, token) in _queries(notes, first).items():
                times = [(await _get(session, url + path, token))[0] for _ in range(CALLS)]
                figures[f"{name} (ms)"] = 1000 * statistics.median(times)
            rss, peak = _rss_kib(proc.pid)
            figures["RSS after the queries (MiB)"] = rss / 1024
            figures["peak RSS (MiB)"] = peak / 1024
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await proc.wait()
    return figures


def _db_bytes(data: Path) -> int:
    return sum(p.stat().st_size for p in data.glob("smsgw.db*"))


async def _main(count: int, runs: int, data_dir: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="smsgw-million-") as tmp:
        data = data_dir or Path(tmp)
        data.mkdir(parents=True, exist_ok=True)
        notes_path = data / STATE_FILE
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if notes_path.exists() and json.loads(notes_path.read_text())["messages"] == count:
            notes = json.loads(notes_path.read_text())
            print(f"reusing the store in {data} ({count:,} messages)")
        else:
            print(f"filling {count:,} messages in batches of {BATCH:,} (store API, durable)")
            notes = await _fill(data, count)
            print(
                f"fill: {notes['fill_seconds']:.1f} s, {count / notes['fill_seconds']:,.0f} msg/s"
            )
        print(f"store on disk: {_db_bytes(data) / 2**20:,.0f} MiB")
        results = []
        for run in range(runs):
            results.append(await _restart(data, notes))
            print(f"  run {run + 1}: listening after {results[-1]['listening after start (s)']:.2f}"
                  f" s, RSS {results[-1]['RSS after the queries (MiB)']:.0f} MiB")  # fmt: skip
        print(f"medians of {runs} run(s), {CALLS} call(s) per query each:")
        for name in results[0]:
            value = statistics.median(r[name] for r in results)
            print(f"  {name:40} {value:10.2f}")
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    asyncio.run(_main(args.messages, args.runs, args.data_dir))


if __name__ == "__main__":
    main()
