"""What a modem that hangs while idle costs a message: seconds and attempts before it moves.

An in-process daemon with the production timings (the driver's and the retry policy's
defaults) drives two simulated modems on ptys: alpha, which the message's route names
first (fallback to any modem), and bravo. Once alpha has answered its first health poll
it stops answering; one message is then sent, and the script prints how long it took to
leave on bravo and how many of its attempts it spent.

    .venv/bin/python bench/hung_modem.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from drivers.simulator import SimulatedModem
from gateway.config import (
    Config,
    ModemConfig,
    RateConfig,
    RouteConfig,
    ServerConfig,
    StoreConfig,
)
from gateway.core.service import SendRequest
from gateway.crypto import KeyRing
from gateway.daemon import Daemon, RuntimeSettings
from gateway.store.base import MessageState

DEADLINE = 300.0  # seconds for anything to happen before the run is called a failure
POLL = 0.02
PATIENT = "+15551230077"


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not await check():
        if time.monotonic() > end:
            raise TimeoutError(what)
        await asyncio.sleep(POLL)


async def one_run(root: Path) -> tuple[float, int]:
    data = root / "data"
    data.mkdir()
    key_file = data / "smsgw.key"
    KeyRing.create(key_file)
    sims = {
        name: SimulatedModem(root / name, profile=profile, report_delay=None, seed=1)
        for name, profile in (("alpha", "quectel"), ("bravo", "generic"))
    }
    for sim in sims.values():
        await sim.start()
    config = Config(
        path=root / "smsgw.toml",
        server=ServerConfig(host="127.0.0.1", port=0),
        store=StoreConfig(data_dir=data, key_file=key_file, durable=False),
        modems=tuple(
            ModemConfig(
                name=n, port=str(s.path), profile=s.profile.name, rate=RateConfig(per_minute=0)
            )
            for n, s in sims.items()
        ),
        routes=(RouteConfig(name="first", modems=("alpha",), fallback=True),),
    )
    daemon = Daemon(config, settings=RuntimeSettings(serve_http=False))
    await daemon.start()
    try:
        alpha = daemon.handles["alpha"]

        async def ready() -> bool:
            return all(h.usable() for h in daemon.handles.values()) and alpha.health is not None

        await until(ready, "modems ready and alpha polled")
        sims["alpha"].hang()
        started = time.monotonic()
        [result] = await daemon.gateway.submit([SendRequest(to=PATIENT, body="hung")], None)

        async def sent() -> bool:
            message = await daemon.store.get_message(result.message.id)
            return message is not None and message.state is MessageState.SENT

        await until(sent, "the message sent")
        elapsed = time.monotonic() - started
        message = await daemon.store.get_message(result.message.id)
        assert message is not None
        assert message.modem == "bravo"
        return elapsed, message.attempts
    finally:
        await daemon.stop()
        for sim in sims.values():
            await sim.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="smsgw-hung-") as tmp:
            elapsed, attempts = await one_run(Path(tmp))
        times.append(elapsed)
        print(f"run {run + 1}: sent on bravo after {elapsed:.2f} s, {attempts} attempt(s) spent")
    print(f"median {statistics.median(times):.2f} s, worst {max(times):.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
