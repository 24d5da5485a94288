"""Fixtures for the driver tests: a scripted peer on a real pty, and simulated modems.

Timing constants are shrunk through ModemSettings instead of being waited out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import termios
import tty
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from drivers.engine import AtEngine, EngineStats
from drivers.modem import Modem, ModemSettings
from drivers.simulator.modem import SimulatedModem
from drivers.transport import SerialLink
from drivers.types import ModemEvent
from drivers.urcs import Urc

WAIT = 5.0  # generous deadline for things that happen in milliseconds

Answer = Callable[[str], bytes | None]


async def until(predicate: Callable[[], bool], within: float = WAIT) -> None:
    """Poll ``predicate`` with a deadline (for state that has no event to wait on)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 (this is the poll-with-a-deadline helper)
            await asyncio.sleep(0.001)


def ok(*lines: str) -> bytes:
    return b"".join(f"\r\n{line}\r\n".encode() for line in (*lines, "OK"))


class ScriptedPeer:
    """The far end of a pty: records each command line and answers from a script.

    ``answers`` maps a regex (matched against the whole command) to bytes or to a
    function of the command; unmatched commands get ``OK``. ``None`` answers nothing.
    """

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave, termios.TCSANOW)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._slave)
        self.commands: list[str] = []
        self.raw = bytearray()
        self.answers: list[tuple[re.Pattern[str], bytes | Answer | None]] = []
        self.echo = False
        self._buffer = bytearray()
        self._waiters: list[tuple[str, asyncio.Future[str]]] = []
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.master, self._readable)

    def on(self, pattern: str, answer: bytes | Answer | None) -> None:
        self.answers.insert(0, (re.compile(pattern), answer))

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except OSError:
            return
        self.raw += data
        self._buffer += data
        while True:
            found = [self._buffer.find(t) for t in (b"\r", b"\x1a", b"\x1b")]
            cut = min((i for i in found if i >= 0), default=-1)
            if cut < 0:
                return
            line = self._buffer[:cut].decode("ascii", "replace")
            terminator = self._buffer[cut : cut + 1]
            del self._buffer[: cut + 1]
            if terminator == b"\x1a":
                line += "<ctrl-z>"
            elif terminator == b"\x1b":
                line += "<esc>"
            self.commands.append(line)
            for prefix, fut in self._waiters:
                if line.startswith(prefix) and not fut.done():
                    fut.set_result(line)
            if self.echo and terminator == b"\r":
                self.send(line.encode() + b"\r")
            self._answer(line)

    def _answer(self, line: str) -> None:
        for pattern, answer in self.answers:
            if pattern.fullmatch(line):
                data = answer(line) if callable(answer) else answer
                if data:
                    self.send(data)
                return
        self.send(b"\r\nOK\r\n")

    async def wait_command(self, prefix: str, within: float = WAIT) -> str:
        for line in self.commands:
            if line.startswith(prefix):
                return line
        fut: asyncio.Future[str] = self._loop.create_future()
        self._waiters.append((prefix, fut))
        async with asyncio.timeout(within):
            return await fut

    def unplug(self) -> None:
        """Close both ends: the client's next read fails like a pulled USB cable."""
        self._loop.remove_reader(self.master)
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master = self._slave = -1

    def close(self) -> None:
        if self.master >= 0:
            self.unplug()


@dataclass
class Recorder:
    """Engine listener that remembers what it was told."""

    urcs: list[Urc] = field(default_factory=list)
    timeouts: list[int] = field(default_factory=list)
    lost: list[BaseException | None] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def urc_received(self, urc: Urc) -> None:
        self.urcs.append(urc)
        self.changed.set()

    def command_timed_out(self, consecutive: int) -> None:
        self.timeouts.append(consecutive)

    async def wait_urcs(self, count: int, within: float = WAIT) -> list[Urc]:
        async with asyncio.timeout(within):
            while len(self.urcs) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.urcs


class _Sink:
    def __init__(self, engine: AtEngine, recorder: Recorder) -> None:
        self.engine = engine
        self.recorder = recorder
        self.gone = asyncio.Event()

    def feed(self, data: bytes) -> None:
        self.engine.feed(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.recorder.lost.append(exc)
        self.engine.connection_lost(exc)
        self.gone.set()


@dataclass
class EngineRig:
    peer: ScriptedPeer
    link: SerialLink
    engine: AtEngine
    recorder: Recorder
    sink: _Sink


@pytest.fixture
async def peer() -> AsyncIterator[ScriptedPeer]:
    scripted = ScriptedPeer()
    yield scripted
    scripted.close()


@pytest.fixture
async def rig(peer: ScriptedPeer) -> AsyncIterator[EngineRig]:
    link = SerialLink(peer.path)
    recorder = Recorder()
    engine = AtEngine(link, recorder, stats=EngineStats(), extra_errors=(r"MODEM ERROR: \d+",))
    sink = _Sink(engine, recorder)
    link.attach(sink)
    await link.open()
    yield EngineRig(peer, link, engine, recorder, sink)
    await link.close()


def fast_settings(port: str | Path, **overrides: object) -> ModemSettings:
    values: dict[str, object] = {
        "port": str(port),
        "command_timeout": 1.0,
        "boot_timeout": 3.0,
        "reconnect_min": 0.02,
        "reconnect_max": 0.2,
        "boot_poll_interval": 0.1,
        "path_poll_interval": 0.02,
        "ussd_timeout": 1.0,
        "cmgs_timeout": 2.0,
        "prompt_timeout": 1.0,
        "resync_quiet": 0.05,
    }
    values.update(overrides)
    return ModemSettings(**values)  # type: ignore[arg-type]


async def next_event(
    modem: Modem, kind: type[ModemEvent] | tuple[type, ...], within: float = WAIT
) -> ModemEvent:
    """The next event of ``kind``; others are skipped."""
    async with asyncio.timeout(within):
        while True:
            event = await modem.events.get()
            if isinstance(event, kind):
                return event


@pytest.fixture
def sim_path(tmp_path: Path) -> Path:
    return tmp_path / "by-id" / "usb-Sim_Modem-if02-port0"


@pytest.fixture
async def sim(sim_path: Path) -> AsyncIterator[SimulatedModem]:
    modem = SimulatedModem(sim_path, profile="generic", seed=1)
    await modem.start()
    yield modem
    await modem.stop()
