"""The measurements: each runs one contender once and returns its figures by name."""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench.peers.contender import Contender, tree_cpu_seconds
from bench.peers.harness import running, texts

INF = float("inf")
UNPLUGGED = 3.0  # seconds a modem stays unplugged


@dataclass(frozen=True)
class Sizes:
    """How much work each scenario does (``--quick`` shrinks it while building)."""

    throughput: int = 2000  # texts queued per throughput run
    window: float = 30.0  # seconds a throughput run lasts at most
    latency: int = 10  # texts sent one at a time
    idle: float = 30.0  # seconds of idle measuring window
    hung_each: int = 10  # texts per modem in the hung-modem run
    inbound: int = 200
    deadline: float = 120.0  # seconds before a scenario's wait is reported as never


QUICK = Sizes(
    throughput=200, window=8.0, latency=3, idle=5.0, hung_each=3, inbound=40, deadline=40.0
)

Figures = dict[str, float]
Run = Callable[[Contender, Path, Sizes], Awaitable[Figures]]


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    metrics: tuple[str, ...]
    run: Run


async def _throughput(contender: Contender, root: Path, sizes: Sizes, modems: int) -> Figures:
    """A full queue, drained for at most ``sizes.window`` seconds (the peers send ~1/s)."""
    async with running(contender, root, modems) as bench:
        start = bench.sent()
        target = start + sizes.throughput
        cpu = tree_cpu_seconds(contender.pids())
        began = time.monotonic()
        await contender.enqueue(texts(sizes.throughput))
        await bench.until(lambda: bench.sent() >= target, sizes.window)
        elapsed = time.monotonic() - began
        cpu = tree_cpu_seconds(contender.pids()) - cpu
        sent = bench.sent() - start
    return {"msg/s": sent / elapsed, "CPU ms/msg": 1000 * cpu / sent if sent else INF}


async def throughput_1(contender: Contender, root: Path, sizes: Sizes) -> Figures:
    return await _throughput(contender, root, sizes, 1)


async def throughput_4(contender: Contender, root: Path, sizes: Sizes) -> Figures:
    return await _throughput(contender, root, sizes, 4)


async def latency(contender: Contender, root: Path, sizes: Sizes) -> Figures:
    """Texts one at a time, at random moments, so a polling period is sampled fairly."""
    rng = random.Random(1)
    waits = []
    async with running(contender, root, 1) as bench:
        [sim] = bench.sims
        for text in texts(sizes.latency):
            await asyncio.sleep(rng.uniform(0.0, 2.0))  # modelled arrival of the next request
            start, sent = len(sim.commands), len(sim.sent)
            began = time.monotonic()
            await contender.enqueue([text])
            try:
                await sim.wait_command("AT+CMGS", sizes.deadline, start=start)
                waits.append(time.monotonic() - began)
                await sim.wait_sent(sent + 1, sizes.deadline)
            except TimeoutError:
                waits.append(INF)
                break
    waits.sort()
    return {
        "p50 ms": 1000 * statistics.median(waits),
        "p99 ms": 1000 * waits[min(len(waits) - 1, int(len(waits) * 0.99))],
    }


async def idle(contender: Contender, root: Path, sizes: Sizes) -> Figures:
    modems = 4
    async with running(contender, root, modems) as bench:
        await asyncio.sleep(2.0)  # let start-up work (first status polls) end
        cpu = tree_cpu_seconds(contender.pids())
        polls = sum(len(sim.commands) for sim in bench.sims)
        began = time.monotonic()
        await asyncio.sleep(sizes.idle)  # the measuring window
        wall = time.monotonic() - began
        cpu = tree_cpu_seconds(contender.pids()) - cpu
        polls = sum(len(sim.commands) for sim in bench.sims) - polls
    return {
        "CPU % per modem": 100 * cpu / wall / modems,
        "AT cmds/s per modem": polls / wall / modems,
    }


async def hung(contender: Contender, root: Path, sizes: Sizes) -> Figures:
    """Modem 0 takes a PDU, never answers it and falls silent; the others carry on?

    Figures: the time until the three healthy modems have sent as many texts as would
    have been theirs (do they stall?), until every text but the hung one is sent (does
    the hung modem's work move?), and how many texts the network took twice.
    """
    modems = 4
    async with running(contender, root, modems) as bench:
        sick = bench.sims[0]
        sick.hang_after_prompt()
        before = len(sick.sent)

        async def fall_silent() -> None:
            with contextlib.suppress(TimeoutError):  # a gateway that never used modem 0
                await sick.wait_sent(before + 1, sizes.deadline)
                sick.hang()

        silent = asyncio.create_task(fall_silent())
        batch = texts(modems * sizes.hung_each)
        wanted = {t.to for t in batch}

        def taken() -> Counter[str]:
            return Counter(
                s.submit.recipient for sim in bench.sims for s in sim.sent
                if s.submit.recipient in wanted
            )  # fmt: skip

        def healthy() -> int:
            return sum(
                1 for sim in bench.sims[1:] for s in sim.sent if s.submit.recipient in wanted
            )

        await contender.enqueue(batch)
        began = time.monotonic()
        share = (modems - 1) * sizes.hung_each  # what the healthy modems would send unaided
        others = await bench.until(lambda: healthy() >= share, sizes.deadline)
        left = max(0.0, sizes.deadline - (time.monotonic() - began))
        rest = await bench.until(lambda: len(taken()) >= len(batch) - 1, left)
        moved = INF if rest == INF else time.monotonic() - began
        await bench.until(lambda: False, min(sizes.deadline, 30.0) / 4)  # room for a resend
        silent.cancel()
        twice = sum(1 for n in taken().values() if n > 1)
    return {"healthy modems' share s": others, "all but the hung text s": moved,
            "texts sent twice": twice}  # fmt: skip


async def replug(contender: Contender, root: Path, sizes: Sizes) -> Figures:
    async with running(contender, root, 1) as bench:
        [sim] = bench.sims
        await sim.vanish()
        await asyncio.sleep(UNPLUGGED)  # the modem is out of its socket this long
        sent = len(sim.sent)
        await contender.enqueue(texts(1))
        began = time.monotonic()
        await sim.reappear()
        try:
            await sim.wait_sent(sent + 1, sizes.deadline)
        except TimeoutError:
            return {"replug to send s": INF}
        return {"replug to send s": time.monotonic() - began}


async def inbound(contender: Contender, root: Path, sizes: Sizes) -> Figures:
    async with running(contender, root, 1, reports=False) as bench:
        [sim] = bench.sims
        stored = 0

        async def poll() -> None:
            nonlocal stored
            stored = await contender.inbound_stored()

        began = time.monotonic()
        for n in range(sizes.inbound):
            sim.deliver(f"+1666{n:07d}", f"Yes, see you at 9:30 ({n})")
        while stored < sizes.inbound and time.monotonic() - began < sizes.deadline:
            await poll()
            await asyncio.sleep(0.1)  # the contender's storage is read from outside
        elapsed = time.monotonic() - began if stored >= sizes.inbound else INF
    return {"all stored s": elapsed}


SCENARIOS = (
    Scenario("throughput-1", "throughput and CPU, one modem",
             ("msg/s", "CPU ms/msg"), throughput_1),
    Scenario("throughput-4", "throughput and CPU, four modems",
             ("msg/s", "CPU ms/msg"), throughput_4),
    Scenario("latency", "enqueue to AT+CMGS at low load, one modem",
             ("p50 ms", "p99 ms"), latency),
    Scenario("idle", "idle CPU, four modems",
             ("CPU % per modem", "AT cmds/s per modem"), idle),
    Scenario("hung", "one of four modems hangs after taking a PDU",
             ("healthy modems' share s", "all but the hung text s", "texts sent twice"), hung),
    Scenario("replug", "unplugged 3 s with a text waiting, then replugged",
             ("replug to send s",), replug),
    Scenario("inbound", "texts arriving at once, one modem (SIM storage 30)",
             ("all stored s",), inbound),
)  # fmt: skip
