"""One contender on fresh simulated modems: started, initialised, warmed up, stopped."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.peers.contender import READY_TIMEOUT, Contender, Text
from drivers.simulator import SimulatedModem

POLL = 0.05  # seconds between checks of something another process writes
_numbers = itertools.count(1)


def texts(count: int) -> list[Text]:
    """Texts to recipients never used before in this process."""
    return [
        Text(f"+1555{n:07d}", f"Reminder {n}: your appointment is tomorrow at 9:30.")
        for n in itertools.islice(_numbers, count)
    ]


@dataclass
class Bench:
    contender: Contender
    sims: list[SimulatedModem]
    root: Path

    def sent(self) -> int:
        return sum(len(sim.sent) for sim in self.sims)

    async def until(self, check: Callable[[], bool], within: float) -> float:
        """Seconds until ``check()`` holds, polled; ``inf`` when ``within`` passes first."""
        began = time.monotonic()
        while not check():
            if time.monotonic() - began > within:
                return float("inf")
            await asyncio.sleep(POLL)  # another process writes what check() reads
        return time.monotonic() - began

    async def warm_up(self) -> None:
        """One text per modem sent before anything is measured."""
        target = self.sent() + len(self.sims)
        await self.contender.enqueue(texts(len(self.sims)))
        if await self.until(lambda: self.sent() >= target, READY_TIMEOUT) == float("inf"):
            raise RuntimeError(f"{self.contender.name}: warm-up texts not sent; see {self.root}")


@asynccontextmanager
async def running(
    contender: Contender, root: Path, modems: int, *, reports: bool = True, radio_time: float = 0.0
) -> AsyncIterator[Bench]:
    """Simulated modems (zero-latency unless ``radio_time`` says otherwise, with immediate
    delivery reports), and the contender.

    The modems keep received texts in 30 slots, as a SIM does; the network holds back
    what does not fit until a slot is free.
    """
    sims = [
        SimulatedModem(
            root / "dev" / f"sim{i}",
            radio_time=radio_time,
            report_delay=0.0 if reports else None,
            seed=i,
        )
        for i in range(modems)
    ]
    for sim in sims:
        await sim.start()
    bench = Bench(contender, sims, root)
    try:
        await contender.start(root, [str(sim.path) for sim in sims])
        await contender.wait_ready()
        await bench.warm_up()  # the only readiness every contender shows the same way
        yield bench
    finally:
        await contender.stop()
        for sim in sims:
            await sim.stop()
