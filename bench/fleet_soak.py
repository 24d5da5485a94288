"""Soak: a fleet with a noisy modem and one that loses its network, killed -9 again and again.

Three simulated modems on real ptys live in this process, so they outlast the daemon:
``alpha`` (quectel) has line noise on a share of its lines, ``bravo`` (simcom) loses
and regains its registration on a cycle, ``charlie`` (generic) is healthy. The daemon
runs as a subprocess, as a user runs it, and is killed with SIGKILL ``--restarts``
times (every fourth one leaving a modem at the ``> `` prompt, as a kill between
``AT+CMGS=<n>`` and the PDU does), while ``--messages``
texts go out through the API and ``--inbound`` texts come in from the network. Then it
is left to settle and the books are checked:

- accepted (2xx) against the states they ended in (sent, delivered, unknown, failed);
- segments the network took twice against the messages left ``unknown`` (invariant 5:
  a duplicate only where a crash fell between writing a PDU and reading its answer);
- inbound texts injected against those stored, and what is left in modem storage;
- how long a message waited while a healthy modem was ready (accept, or the restart
  that brought the queue back, to sent).

Run from the repository root: ``.venv/bin/python bench/fleet_soak.py`` (about two
minutes). It prints one table; the exit status is 1 when anything accepted was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from drivers.simulator import SimulatedModem
from gateway.config import StoreConfig
from gateway.crypto import KeyRing
from gateway.store.backend import create_store
from gateway.store.base import Scope

MODEMS = (("alpha", "quectel"), ("bravo", "simcom"), ("charlie", "generic"))
NOISE = 0.3  # share of alpha's lines with stray bytes in front
REGISTRATION_CYCLE = (4.0, 3.0)  # bravo: seconds registered, then seconds without network
# The network's side of AT+CSMS=1: a routed +CMT/+CDS not acknowledged within this many
# seconds (the daemon was killed before its commit) is handed over again after REDELIVERY.
ACK_TIMEOUT, REDELIVERY = 5.0, 2.0
STARTUP_DEADLINE = 30.0  # seconds for a restarted daemon to answer /readyz
SETTLE_DEADLINE = 120.0  # seconds for the queue to drain and reports to return
BATCH = 25  # messages per POST


@dataclass
class Books:
    accepted: dict[str, float] = field(default_factory=dict)  # id -> accept time
    injected: set[str] = field(default_factory=set)  # inbound texts sent by the network
    ready_at: list[float] = field(default_factory=list)  # each time the daemon became ready
    kills: int = 0
    kills_at_prompt: int = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def segments_taken_twice(sims: Iterable[SimulatedModem]) -> int:
    """Segments the modems took more than once, keyed by number and concat reference:
    each text goes to a number of its own, so a repeat is a segment sent twice."""
    taken: Counter[tuple[str, int, int]] = Counter()
    for sim in sims:
        for sent in sim.sent:
            concat = sent.submit.concat
            taken[(sent.submit.recipient, concat.reference if concat else -1,
                   concat.sequence if concat else 1)] += 1  # fmt: skip
    return sum(n - 1 for n in taken.values() if n > 1)


def write_config(root: Path, port: int, sims: dict[str, SimulatedModem]) -> Path:
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
    for name, profile in MODEMS:
        lines += [
            "[[modems]]",
            f'name = "{name}"',
            f'port = "{sims[name].path}"',
            f'profile = "{profile}"',
            "command_timeout = 2.0",
            "rate = { per_minute = 0 }",
            "",
        ]
    path = root / "smsgw.toml"
    path.write_text("\n".join(lines))
    return path


class Daemon:
    def __init__(self, root: Path, config: Path, url: str, token: str) -> None:
        self.root, self.config, self.url, self.token = root, config, url, token
        self.proc: asyncio.subprocess.Process | None = None
        self.session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})
        self.starts = 0

    async def start(self) -> float:
        self.starts += 1
        log = (self.root / f"daemon-{self.starts}.log").open("wb")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway.cli", "run", "--config", str(self.config),
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        finally:
            log.close()
        deadline = time.monotonic() + STARTUP_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                raise RuntimeError(f"daemon exited; see {self.root}/daemon-{self.starts}.log")
            try:
                async with self.session.get(self.url + "/readyz") as r:
                    if r.status == 200:
                        return time.time()
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)  # polling an external process's readiness, with a deadline
        raise RuntimeError("daemon did not become ready")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await self.proc.wait()
        await self.session.close()

    async def get(self, path: str, **params: str) -> Any:
        async with self.session.get(self.url + path, params=params) as r:
            r.raise_for_status()
            return await r.json()

    async def pages(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = await (self.get(path, limit="500", cursor=cursor) if cursor else
                          self.get(path, limit="500"))  # fmt: skip
            items += page["items"]
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return items


async def send(daemon: Daemon, books: Books, count: int, rng: random.Random) -> None:
    """Batches of texts, one or two segments each, to a spread of patients."""
    n = 0
    while n < count:
        batch = []
        for _ in range(min(BATCH, count - n)):
            body = f"Reminder {n}: your appointment is confirmed." + " More." * rng.choice((0, 30))
            batch.append({"to": f"+1555{2000000 + n:07d}", "body": body})
            n += 1
        while True:
            try:
                async with daemon.session.post(
                    daemon.url + "/v1/messages/batch", json={"messages": batch}
                ) as r:
                    if r.status == 202 or r.status == 200:
                        for item in (await r.json())["messages"]:
                            books.accepted[item["id"]] = time.time()
                        break
            except aiohttp.ClientError:
                pass  # the daemon is down between a kill and its restart: try again
            await asyncio.sleep(0.1)  # the daemon is restarting; retry shortly
        await asyncio.sleep(rng.uniform(0.0, 0.1))  # spread the load over the run


async def receive(sims: dict[str, SimulatedModem], books: Books, count: int,
                  rng: random.Random) -> None:  # fmt: skip
    for n in range(count):
        text = f"inbound {n:04d} C"
        sim = sims[rng.choice([name for name, _ in MODEMS])]
        sim.deliver(f"+1555{3000000 + n:07d}", text)
        books.injected.add(text)
        await asyncio.sleep(rng.uniform(0.0, 0.06))  # the network's pace


async def flap(sim: SimulatedModem, stop: asyncio.Event) -> None:
    up, down = REGISTRATION_CYCLE
    while not stop.is_set():
        await asyncio.sleep(up)  # modelled radio conditions
        sim.lose_registration()
        await asyncio.sleep(down)
        sim.restore_registration()


async def killer(daemon: Daemon, sims: dict[str, SimulatedModem], books: Books,
                 restarts: int, rng: random.Random) -> None:  # fmt: skip
    for n in range(restarts):
        await asyncio.sleep(rng.uniform(1.0, 3.0))  # a crash at a random moment
        await daemon.kill()
        books.kills += 1
        if n % 4 == 3:
            # As if the kill fell between AT+CMGS=<n> and the PDU: the modem waits for text.
            rng.choice(list(sims.values())).leave_at_prompt()
            books.kills_at_prompt += 1
        books.ready_at.append(await daemon.start())


def parse_time(text: str | None) -> float | None:
    return None if text is None else datetime.fromisoformat(text).timestamp()


async def main(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="smsgw-soak-"))
    (root / "dev").mkdir()
    sims = {
        name: SimulatedModem(root / "dev" / name, profile=profile, report_delay=0.05)
        for name, profile in MODEMS
    }
    for sim in sims.values():
        await sim.start()
    for sim in sims.values():
        sim.set_ack_timeout(ACK_TIMEOUT, redelivery=REDELIVERY)
    sims["alpha"].set_noise(NOISE, seed=args.seed)
    config = write_config(root, free_port(), sims)
    init = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "init", "--config", str(config),
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    if await init.wait() != 0:
        raise RuntimeError("smsgw init failed")
    data = root / "data"
    store = create_store(StoreConfig(data_dir=data, key_file=data / "smsgw.key"),
                         KeyRing.load(data / "smsgw.key"))  # fmt: skip
    await store.open()
    _, token = await store.create_api_key("soak", frozenset(Scope))
    await store.close()
    port = config.read_text().split("port = ")[1].split("\n")[0]
    daemon = Daemon(root, config, f"http://127.0.0.1:{port}", token)
    books = Books()
    stop_flap = asyncio.Event()
    began = time.time()
    books.ready_at.append(await daemon.start())
    flapping = asyncio.create_task(flap(sims["bravo"], stop_flap))
    try:
        await asyncio.gather(
            send(daemon, books, args.messages, rng),
            receive(sims, books, args.inbound, rng),
            killer(daemon, sims, books, args.restarts, rng),
        )
        stop_flap.set()
        await flapping
        sims["bravo"].restore_registration()
        deadline = time.monotonic() + SETTLE_DEADLINE
        while True:
            messages = await daemon.pages("/v1/messages")
            states = Counter(m["state"] for m in messages)
            inbound = await daemon.pages("/v1/inbound")
            # Reports for texts sent just before a kill come back when the network
            # redelivers what was not acknowledged: wait for them too, within the deadline.
            settled = states["queued"] + states["sending"] + states["sent"] == 0 and len(
                inbound
            ) >= len(books.injected)
            if settled or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)  # the daemon drains its queue on its own time
        left = {name: sim.memories[sim.settings.mem3].used for name, sim in sims.items()}
    finally:
        await daemon.stop()
        for sim in sims.values():
            await sim.stop()
    elapsed = time.time() - began

    by_id = {m["id"]: m for m in messages}
    lost = [i for i in books.accepted if i not in by_id]
    duplicates = segments_taken_twice(sims.values())
    stored = {i["text"] for i in inbound}
    waits = []
    for m in messages:
        sent_at = parse_time(m["sent_at"])
        created = parse_time(m["created_at"])
        if sent_at is None or created is None:
            continue
        # From acceptance, or from the restart that brought the queue back.
        start = max([created, *[t for t in books.ready_at if t <= sent_at]])
        waits.append(sent_at - start)
    waits.sort()
    rows = [
        ("run", f"{elapsed:.0f} s, {books.kills} kill -9 ({books.kills_at_prompt} at a prompt)"),
        ("accepted", str(len(books.accepted))),
        ("ended", ", ".join(f"{k} {v}" for k, v in sorted(states.items()))),
        ("lost (accepted, not in the store)", str(len(lost))),
        ("segments taken twice by the network", str(duplicates)),
        ("messages unknown", str(states["unknown"])),
        ("inbound injected / stored", f"{len(books.injected)} / {len(stored & books.injected)}"),
        ("inbound stored twice", str(len(inbound) - len({i['text'] for i in inbound}))),
        ("left in modem storage", ", ".join(f"{k} {v}" for k, v in left.items())),
        ("wait to sent p50 / p99 / max",
         f"{waits[len(waits) // 2]:.2f} / {waits[int(len(waits) * 0.99)]:.2f} / {waits[-1]:.2f} s"
         if waits else "-"),
        ("load average", " ".join(f"{x:.2f}" for x in os.getloadavg())),
    ]  # fmt: skip
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    if args.json:
        print(json.dumps(dict(rows)))
    return 1 if lost else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--inbound", type=int, default=300)
    parser.add_argument("--restarts", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    sys.exit(asyncio.run(main(parser.parse_args())))
