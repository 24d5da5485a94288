"""Crash campaign: the real daemon killed -9 again and again while it sends, receives,
rotates its encryption key and revokes API keys; the books are checked after every
restart and at the end.

The daemon runs as a subprocess (``smsgw run``) on three simulated modems on real ptys
in this process (bench/fleet_soak.py's fleet and daemon handle), while texts go out
through the API and come in from the network the whole time. Each run picks the next
scenario and kills the daemon at a random moment inside it:

- ``sending``: a burst of batches, killed while they are accepted and sent;
- ``receiving``: a burst of inbound texts from the network, killed while they arrive;
- ``rotation``: ``smsgw rotate-key`` beside the daemon, killed while it re-encrypts;
- ``revocation``: a key made and used, ``smsgw keys revoke``, killed just after.

After each restart: the daemon is ready again, every message accepted so far is in
the store, ``smsgw keys list`` opens the database (a rotation cut short must not lock
the host tools out), and every revoked key is refused. At the end, after the queue has
drained: accepted against lost, segments the modems took twice against messages left
``unknown``, inbound injected against stored, and whether the last rotation finished.

Run from the repository root: ``.venv/bin/python bench/crash_campaign.py --runs 30``
(about five minutes). It prints a line per run and a table; the exit status is 1 when
anything accepted was lost or a revoked key was accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench is a package

from bench.fleet_soak import (
    ACK_TIMEOUT,
    BATCH,
    MODEMS,
    REDELIVERY,
    SETTLE_DEADLINE,
    Books,
    Daemon,
    free_port,
    segments_taken_twice,
    write_config,
)
from drivers.simulator import SimulatedModem
from gateway.config import StoreConfig
from gateway.crypto import KeyRing
from gateway.store.backend import create_store
from gateway.store.base import Scope

SCENARIOS: Final = ("sending", "receiving", "rotation", "revocation")
SEND_PACE = 1.5  # seconds between background batches: about what three modems send
CLI_DEADLINE = 60.0
REPO: Final = Path(__file__).resolve().parents[1]
UNIT: Final = REPO / "systemd" / "smsgw.service"


@dataclass
class Campaign:
    books: Books = field(default_factory=Books)
    inbound_sent: int = 0
    messages_sent: int = 0
    scenarios: Counter[str] = field(default_factory=Counter)
    rotations: int = 0
    revoked: dict[str, str] = field(default_factory=dict)  # key id -> token
    revoked_accepted: int = 0  # a revoked key answered 2xx after a restart
    revocation_seen: list[float] = field(default_factory=list)  # seconds to the first 401
    cli_failures: list[str] = field(default_factory=list)
    lost_after_restart: int = 0  # the most accepted messages found missing after a restart


async def cli(config: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", *args, "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(CLI_DEADLINE):
        out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


async def send(daemon: Daemon, campaign: Campaign, rng: random.Random) -> None:
    """One batch, one or two segments a text, each to a number of its own (so a segment
    the modems took twice is told apart from the next text); retried while the daemon is
    down, as a client would, with an idempotency key per text, so a batch committed just
    before a kill whose answer never came is not accepted twice."""
    batch = []
    for _ in range(BATCH):
        n = campaign.messages_sent
        campaign.messages_sent += 1
        body = f"Reminder {n}: your appointment is confirmed." + " More." * rng.choice((0, 30))
        batch.append({"to": f"+1555{2000000 + n:07d}", "body": body, "idempotency_key": f"c{n}"})
    while True:
        try:
            async with daemon.session.post(
                daemon.url + "/v1/messages/batch", json={"messages": batch}
            ) as r:
                if r.status in (200, 202):
                    for item in (await r.json())["messages"]:
                        campaign.books.accepted[item["id"]] = time.time()
                    return
        except aiohttp.ClientError:
            pass  # the daemon is down between a kill and its restart
        await asyncio.sleep(0.1)  # the daemon is restarting; retry shortly


async def traffic(daemon: Daemon, campaign: Campaign, stop: asyncio.Event,
                  rng: random.Random) -> None:  # fmt: skip
    """Batches through the API for the whole campaign, at about the fleet's pace."""
    while not stop.is_set():
        await send(daemon, campaign, rng)
        await asyncio.sleep(SEND_PACE)  # the background pace; the sending scenario adds bursts


def inject(sims: dict[str, SimulatedModem], campaign: Campaign, count: int,
           rng: random.Random) -> None:  # fmt: skip
    for _ in range(count):
        n = campaign.inbound_sent
        campaign.inbound_sent += 1
        text = f"campaign inbound {n:05d}"
        sims[rng.choice([name for name, _ in MODEMS])].deliver(f"+1555{4000000 + n:07d}", text)
        campaign.books.injected.add(text)


async def inbound_trickle(sims: dict[str, SimulatedModem], campaign: Campaign,
                          stop: asyncio.Event, rng: random.Random) -> None:  # fmt: skip
    while not stop.is_set():
        inject(sims, campaign, 1, rng)
        await asyncio.sleep(rng.uniform(0.2, 0.8))  # the network's pace


async def status_with(daemon: Daemon, token: str) -> int | None:
    try:
        async with aiohttp.ClientSession() as http, http.get(
            daemon.url + "/v1/messages", params={"limit": "1"},
            headers={"Authorization": f"Bearer {token}"},
        ) as r:  # fmt: skip
            return r.status
    except aiohttp.ClientError:
        return None  # the daemon is down


async def scenario(name: str, daemon: Daemon, sims: dict[str, SimulatedModem],
                   campaign: Campaign, rng: random.Random) -> str:  # fmt: skip
    """Start the scenario; return once the kill is due (its moment picked at random)."""
    if name == "sending":
        for _ in range(rng.randint(2, 6)):
            await send(daemon, campaign, rng)
        await asyncio.sleep(rng.uniform(0.0, 1.5))  # a crash at a random moment of it
        return "burst accepted"
    if name == "receiving":
        inject(sims, campaign, rng.randint(10, 40), rng)
        await asyncio.sleep(rng.uniform(0.0, 1.5))
        return "burst injected"
    if name == "rotation":
        code, out = await cli(daemon.config, "rotate-key")
        if code != 0:
            campaign.cli_failures.append(f"rotate-key: {out.strip()[-200:]}")
            return "rotate-key failed"
        campaign.rotations += 1
        # The daemon adopts the new key within its key watch (2 s), then re-encrypts.
        await asyncio.sleep(rng.uniform(0.5, 4.0))
        return "rotation under way"
    code, out = await cli(daemon.config, "keys", "create", "--name", "campaign",
                          "--scopes", "send,read")  # fmt: skip
    if code != 0:
        campaign.cli_failures.append(f"keys create: {out.strip()[-200:]}")
        return "keys create failed"
    key_id = out.split("created API key ")[1].split()[0]
    token = out.split("(shown once):\n")[1].split()[0]
    deadline = time.monotonic() + 5.0  # a new key is honoured within a second
    while time.monotonic() < deadline:
        if await status_with(daemon, token) == 200:
            break
        await asyncio.sleep(0.05)  # polling another process's view, with a deadline
    code, out = await cli(daemon.config, "keys", "revoke", key_id)
    if code != 0:
        campaign.cli_failures.append(f"keys revoke: {out.strip()[-200:]}")
        return "keys revoke failed"
    campaign.revoked[key_id] = token
    revoked_at = time.monotonic()
    kill_at = revoked_at + rng.uniform(0.0, 1.5)  # the kill falls somewhere in here
    while time.monotonic() < kill_at:
        if await status_with(daemon, token) == 401:
            campaign.revocation_seen.append(time.monotonic() - revoked_at)
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(max(0.0, kill_at - time.monotonic()))
    return "key revoked"


async def after_restart(daemon: Daemon, campaign: Campaign) -> str:
    """What must hold every time the daemon is back."""
    # Those accepted before the listing starts: a batch accepted while it pages is newer
    # than the pages already read.
    expected = list(campaign.books.accepted)
    messages = await daemon.pages("/v1/messages")
    ids = {m["id"] for m in messages}
    lost = sum(1 for i in expected if i not in ids)
    campaign.lost_after_restart = max(campaign.lost_after_restart, lost)
    for key_id, token in campaign.revoked.items():
        if await status_with(daemon, token) != 401:
            campaign.revoked_accepted += 1
            campaign.cli_failures.append(f"revoked key {key_id} was not refused")
    code, out = await cli(daemon.config, "keys", "list")
    if code != 0:
        campaign.cli_failures.append(f"keys list: {out.strip()[-200:]}")
    inbound = await daemon.pages("/v1/inbound")
    unknown = sum(1 for m in messages if m["state"] == "unknown")
    return (f"accepted {len(campaign.books.accepted)} (missing {lost}), unknown {unknown}, "
            f"inbound {len(inbound)}/{len(campaign.books.injected)}, "
            f"keys list {'ok' if code == 0 else 'FAILED'}")  # fmt: skip


def exposure() -> str:
    """``systemd-analyze security`` of the unit, offline in a scratch root (as the install
    test runs it)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return "systemd-analyze not installed"
    binary = re.search(r"ExecStart=(\S+)", UNIT.read_text())
    assert binary is not None
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        installed = root / "etc/systemd/system" / UNIT.name
        installed.parent.mkdir(parents=True)
        shutil.copy(UNIT, installed)
        stand_in = root / binary.group(1).lstrip("/")
        stand_in.parent.mkdir(parents=True)
        stand_in.write_text("#!/bin/sh\nexit 0\n")
        stand_in.chmod(0o755)
        result = subprocess.run(
            [analyze, "security", "--offline=true", f"--root={root}", "--no-pager", UNIT.name],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    match = re.search(r"Overall exposure level for \S+: (.+)", result.stdout)
    return match.group(1).strip() if match else (result.stdout + result.stderr).strip()[-200:]


def key_file_state(data: Path) -> tuple[str, int]:
    document = json.loads((data / "smsgw.key").read_text())
    return document["current"], len(document["keys"])


async def main(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="smsgw-crash-"))
    (root / "dev").mkdir()
    sims = {
        name: SimulatedModem(root / "dev" / name, profile=profile, report_delay=0.05)
        for name, profile in MODEMS
    }
    for sim in sims.values():
        await sim.start()
        sim.set_ack_timeout(ACK_TIMEOUT, redelivery=REDELIVERY)
    config = write_config(root, free_port(), sims)
    code, out = await cli(config, "init")
    if code != 0:
        raise RuntimeError(f"smsgw init failed: {out}")
    data = root / "data"
    store = create_store(StoreConfig(data_dir=data, key_file=data / "smsgw.key"),
                         KeyRing.load(data / "smsgw.key"))  # fmt: skip
    await store.open()
    _, token = await store.create_api_key("campaign", frozenset(Scope))
    await store.close()
    port = config.read_text().split("port = ")[1].split("\n")[0]
    daemon = Daemon(root, config, f"http://127.0.0.1:{port}", token)
    campaign = Campaign()
    books = campaign.books
    stop = asyncio.Event()
    began = time.time()
    books.ready_at.append(await daemon.start())
    background = [
        asyncio.create_task(traffic(daemon, campaign, stop, rng)),
        asyncio.create_task(inbound_trickle(sims, campaign, stop, rng)),
    ]
    try:
        for run in range(1, args.runs + 1):
            name = SCENARIOS[(run - 1) % len(SCENARIOS)]
            campaign.scenarios[name] += 1
            what = await scenario(name, daemon, sims, campaign, rng)
            await daemon.kill()
            books.kills += 1
            killed = time.monotonic()
            books.ready_at.append(await daemon.start())
            restart = time.monotonic() - killed
            checked = await after_restart(daemon, campaign)
            print(f"run {run:>3} {name:<10} {what:<20} restart {restart:4.1f} s  {checked}",
                  flush=True)  # fmt: skip
        stop.set()
        await asyncio.gather(*background)
        deadline = time.monotonic() + SETTLE_DEADLINE
        while True:
            messages = await daemon.pages("/v1/messages")
            states = Counter(m["state"] for m in messages)
            inbound = await daemon.pages("/v1/inbound")
            rotated = key_file_state(data)[1] == 1
            settled = (states["queued"] + states["sending"] + states["sent"] == 0
                       and len(inbound) >= len(books.injected) and rotated)  # fmt: skip
            if settled or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)  # the daemon drains its queue on its own time
        for key_id, revoked_token in campaign.revoked.items():
            if await status_with(daemon, revoked_token) != 401:
                campaign.revoked_accepted += 1
                campaign.cli_failures.append(f"revoked key {key_id} was not refused at the end")
        verify_code, verify_out = await cli(config, "audit", "verify")
    finally:
        stop.set()
        for task in background:
            task.cancel()
        await daemon.stop()
        for sim in sims.values():
            await sim.stop()
    elapsed = time.time() - began

    by_id = {m["id"]: m for m in messages}
    lost = [i for i in books.accepted if i not in by_id]
    duplicates = segments_taken_twice(sims.values())
    stored = {i["text"] for i in inbound}
    current, keys_left = key_file_state(data)
    seen = sorted(campaign.revocation_seen)
    rows = [
        ("runs", f"{books.kills} kill -9 in {elapsed:.0f} s: "
                 + ", ".join(f"{k} {v}" for k, v in campaign.scenarios.items())),
        ("accepted", str(len(books.accepted))),
        ("ended", ", ".join(f"{k} {v}" for k, v in sorted(states.items()))),
        ("lost (accepted, not in the store)", str(len(lost))),
        ("most missing after any restart", str(campaign.lost_after_restart)),
        ("segments taken twice by the modems", str(duplicates)),
        ("messages unknown", str(states["unknown"])),
        ("inbound injected / stored", f"{len(books.injected)} / {len(stored & books.injected)}"),
        ("inbound stored twice", str(len(inbound) - len({i['text'] for i in inbound}))),
        ("key rotations / keys left in the key file",
         f"{campaign.rotations} / {keys_left} (current {current})"),
        ("revoked keys / accepted after revocation",
         f"{len(campaign.revoked)} / {campaign.revoked_accepted}"),
        ("revocation seen by the daemon (max)",
         f"{seen[-1]:.2f} s over {len(seen)} seen before the kill" if seen else "-"),
        ("host commands failed", str(len(campaign.cli_failures))),
        ("audit verify at the end", verify_out.strip().splitlines()[-1] if verify_out.strip()
         else f"exit {verify_code}"),
        ("systemd-analyze security", exposure()),
        ("load average", " ".join(f"{x:.2f}" for x in os.getloadavg())),
    ]  # fmt: skip
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    for failure in campaign.cli_failures:
        print(f"  {failure}")
    return 1 if lost or campaign.revoked_accepted else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    sys.exit(asyncio.run(main(parser.parse_args())))
