"""Gammu SMSD with its files backend: one ``gammu-smsd`` process per modem.

Gammu's documentation runs one daemon per modem ("Multiple modems" in gammu-smsd(1));
the files backend ignores PhoneID, so each daemon gets its own spool and the bench
hands texts to the daemons in turn, as an integrator would have to.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from pathlib import Path

from bench.peers.contender import Text, count_files, drop_file, spawn, stop_all

SPOOLS = ("inbox", "outbox", "sent", "error")

# gammu-smsdrc(5): CommTimeout (outbox scan when idle, default 30 s), ReceiveFrequency
# (inbox check while sending, 15 s), StatusFrequency (60 s), LoopSleep (1 s; 0 is a
# busy loop, so 1 is its useful minimum).
TUNED = {"CommTimeout": "0", "ReceiveFrequency": "0", "StatusFrequency": "0", "LoopSleep": "1"}


def write_config(home: Path, port: str, *, tuned: bool) -> Path:
    lines = [
        "[gammu]",
        f"device = {port}",
        "connection = at",
        "",
        "[smsd]",
        "service = files",
        f"logfile = {home / 'smsd.log'}",
        "debuglevel = 0",
        "DeliveryReport = sms",
        *(f"{name}path = {home / name}/" for name in ("inbox", "outbox")),
        f"sentsmspath = {home / 'sent'}/",
        f"errorsmspath = {home / 'error'}/",
        *(f"{key} = {value}" for key, value in (TUNED.items() if tuned else ())),
        "",
    ]
    config = home / "smsdrc"
    config.write_text("\n".join(lines))
    return config


class GammuSmsd:
    def __init__(self, *, tuned: bool) -> None:
        self.name = "gammu-smsd" + (" tuned" if tuned else "")
        self._tuned = tuned
        self._homes: list[Path] = []
        self._procs: list[asyncio.subprocess.Process] = []
        self._serial = itertools.count()

    async def start(self, root: Path, ports: Sequence[str]) -> None:
        for i, port in enumerate(ports):
            home = root / f"gammu{i}"
            for name in SPOOLS:
                (home / name).mkdir(parents=True)
            config = write_config(home, port, tuned=self._tuned)
            self._homes.append(home)
            self._procs.append(await spawn(home / "stdout.log", "gammu-smsd", "-c", str(config)))

    async def wait_ready(self) -> None:
        return None

    async def enqueue(self, texts: Sequence[Text]) -> None:
        for text in texts:
            n = next(self._serial)
            home = self._homes[n % len(self._homes)]
            # OUT<priority>_<recipient>_<serial>.<ext>, "d": delivery report requested.
            drop_file(home / "outbox", f"OUTA_{text.to}_{n:06d}.txtd", text.body)

    async def inbound_stored(self) -> int:
        return sum(count_files(home / "inbox") for home in self._homes)

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    async def stop(self) -> None:
        await stop_all(self._procs)
