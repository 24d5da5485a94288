"""What every gateway under test offers the scenarios, and the process plumbing they share."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bench.idle_cpu import CLOCK_TICKS, stop

READY_TIMEOUT = 90.0  # seconds for a gateway to start and send its first texts


@dataclass(frozen=True)
class Text:
    """One outgoing text; the recipient is unique per text, so a resend is visible."""

    to: str  # E.164
    body: str


class Contender(Protocol):
    """A gateway run on the simulated modems' ports."""

    name: str

    async def start(self, root: Path, ports: Sequence[str]) -> None: ...

    async def wait_ready(self) -> None:
        """Return once the gateway takes work (beyond having initialised its modems)."""

    async def enqueue(self, texts: Sequence[Text]) -> None:
        """Hand texts over the gateway's own intake (API, spool files)."""

    async def inbound_stored(self) -> int:
        """Received texts the gateway has committed to its own storage."""

    def pids(self) -> list[int]:
        """The processes whose CPU time counts (each gateway's whole process tree)."""

    async def stop(self) -> None: ...


async def spawn(log: Path, *argv: str) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            *argv, stdout=out, stderr=asyncio.subprocess.STDOUT
        )


async def stop_all(procs: Sequence[asyncio.subprocess.Process]) -> None:
    await asyncio.gather(*(stop(p) for p in procs))


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def process_tree(roots: Sequence[int]) -> list[int]:
    """The roots and all their live descendants (smsd forks a process per modem)."""
    tree = _children()
    found: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, ()))
    return found


def tree_cpu_seconds(roots: Sequence[int]) -> float:
    """utime + stime of a process tree, with the children it has reaped (cutime, cstime)."""
    total = 0
    for pid in process_tree(roots):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return total / CLOCK_TICKS


def count_files(directory: Path) -> int:
    return sum(1 for entry in os.scandir(directory) if entry.is_file())


def drop_file(spool: Path, name: str, content: str) -> None:
    """Write a spool file whole, then rename it in, so a daemon never reads half of it."""
    temp = spool.parent / f".{name}.tmp"
    temp.write_text(content)
    temp.rename(spool / name)
