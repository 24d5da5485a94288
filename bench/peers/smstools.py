"""SMS Server Tools 3 (``smsd``): one main process spooling to a process per modem."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from pathlib import Path

from bench.peers.contender import Text, count_files, drop_file, spawn, stop_all

SPOOLS = ("outgoing", "checked", "failed", "incoming", "sent", "report")

# smsd.conf(5): delaytime (sleep when idle, default 10 s), delaytime_mainprocess (the
# outgoing spool scan, default delaytime), check_network = 2 (registration checked only
# before sending: "incoming messages are processed faster"). 1 s is the least delaytime.
TUNED = {"delaytime": "1", "delaytime_mainprocess": "1"}
TUNED_MODEM = {"check_network": "2"}


def write_config(root: Path, ports: Sequence[str], *, tuned: bool) -> Path:
    """Debian's packaged /etc/smsd.conf, with this run's spool and the modems' ports."""
    names = [f"GSM{i + 1}" for i in range(len(ports))]
    lines = [
        f"devices = {','.join(names)}",
        *(f"{name} = {root / name}" for name in SPOOLS),
        f"logfile = {root / 'smsd.log'}",
        f"infofile = {root / 'smsd.working'}",
        f"pidfile = {root / 'smsd.pid'}",
        f"stats = {root / 'stats'}",
        "receive_before_send = no",
        "autosplit = 3",
        *(f"{key} = {value}" for key, value in (TUNED.items() if tuned else ())),
        "",
    ]
    for name, port in zip(names, ports, strict=True):
        lines += [f"[{name}]", f"device = {port}", "incoming = yes", "report = yes"]
        lines += [*(f"{k} = {v}" for k, v in (TUNED_MODEM.items() if tuned else ())), ""]
    config = root / "smsd.conf"
    config.write_text("\n".join(lines))
    return config


class SmsTools:
    def __init__(self, *, tuned: bool) -> None:
        self.name = "smstools" + (" tuned" if tuned else "")
        self._tuned = tuned
        self._root = Path()
        self._proc: asyncio.subprocess.Process | None = None
        self._serial = itertools.count()

    async def start(self, root: Path, ports: Sequence[str]) -> None:
        self._root = root / "smstools"
        for name in (*SPOOLS, "stats"):
            (self._root / name).mkdir(parents=True)
        config = write_config(self._root, ports, tuned=self._tuned)
        # -t: stay in the foreground, as a supervisor runs it.
        self._proc = await spawn(self._root / "stdout.log", "smsd", f"-c{config}", "-t")

    async def wait_ready(self) -> None:
        return None

    async def enqueue(self, texts: Sequence[Text]) -> None:
        for text in texts:
            # fileformat.html: headers, a blank line, the text; the number without "+".
            body = f"To: {text.to.lstrip('+')}\n\n{text.body}\n"
            drop_file(self._root / "outgoing", f"bench{next(self._serial):06d}", body)

    async def inbound_stored(self) -> int:
        return count_files(self._root / "incoming")

    def pids(self) -> list[int]:
        return [] if self._proc is None else [self._proc.pid]

    async def stop(self) -> None:
        if self._proc is not None:
            await stop_all([self._proc])
