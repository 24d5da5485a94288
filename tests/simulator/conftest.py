"""A minimal raw client over the real pty: bytes in, bytes out, no driver code."""

from __future__ import annotations

import asyncio
import errno
import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from drivers.simulator import SimulatedModem

# All timeouts in seconds.
ANSWER_TIMEOUT = 2.0  # a live simulator answers within milliseconds
SILENCE_WINDOW = 0.15  # how long "no answer" is watched for
FINAL = re.compile(rb"\r\n(OK|ERROR|\+CM[ES] ERROR: [^\r]*|COMMAND NOT SUPPORT)\r\n|\r\n> $")


class RawClient:
    """Opens the link like a serial port would and collects what the modem writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.buf = bytearray()
        self.closed = False  # EOF or EIO seen: the device went away
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self.closed = True
            self._loop.remove_reader(self.fd)
        self.buf += data
        self._event.set()

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    async def wait_for(self, predicate: Callable[[bytes], bool], within: float) -> bytes:
        async with asyncio.timeout(within):
            while not predicate(bytes(self.buf)):
                if self.closed:
                    raise EOFError(bytes(self.buf))
                self._event.clear()
                await self._event.wait()
        return bytes(self.buf)

    async def expect(self, marker: bytes, within: float = ANSWER_TIMEOUT) -> bytes:
        """Everything up to and including ``marker``; removed from the buffer."""
        await self.wait_for(lambda b: marker in b, within)
        end = self.buf.index(marker) + len(marker)
        out = bytes(self.buf[:end])
        del self.buf[:end]
        return out

    async def command(self, line: str, within: float = ANSWER_TIMEOUT) -> bytes:
        """Send ``line`` and return the answer up to its final result code."""
        self.buf.clear()
        self.write(line.encode() + b"\r")
        return await self.command_answer(within)

    async def command_answer(self, within: float = ANSWER_TIMEOUT) -> bytes:
        """Output up to the next final result code (or the ``> `` prompt)."""

        await self.wait_for(lambda b: FINAL.search(b) is not None, within)
        match = FINAL.search(self.buf)
        assert match is not None
        out = bytes(self.buf[: match.end()])
        del self.buf[: match.end()]  # what follows (URCs) stays for expect()
        return out

    async def assert_silent(self, window: float = SILENCE_WINDOW) -> None:
        """Nothing arrives within ``window`` (waits on the data event with a deadline)."""
        self.buf.clear()
        self._event.clear()
        try:
            async with asyncio.timeout(window):
                await self._event.wait()
        except TimeoutError:
            return
        raise AssertionError(f"unexpected output {bytes(self.buf)!r}")

    async def wait_closed(self, within: float = ANSWER_TIMEOUT) -> None:
        async with asyncio.timeout(within):
            while not self.closed:
                self._event.clear()
                await self._event.wait()

    def close(self) -> None:
        if self.fd < 0:
            return
        if not self.closed:
            self._loop.remove_reader(self.fd)
        os.close(self.fd)
        self.fd = -1


POLL_STEP = 0.005


async def poll_until(predicate: Callable[[], bool], within: float) -> None:
    """Poll a condition that has no event of its own, with a deadline."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - state without an event (files, flags)
            await asyncio.sleep(POLL_STEP)


@pytest.fixture
async def make_sim(tmp_path: Path) -> AsyncIterator[Callable[..., SimulatedModem]]:
    sims: list[SimulatedModem] = []

    def make(**kwargs: object) -> SimulatedModem:
        sim = SimulatedModem(tmp_path / f"sim{len(sims)}", seed=len(sims), **kwargs)  # type: ignore[arg-type]
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        await sim.stop()


@pytest.fixture
async def open_client() -> AsyncIterator[Callable[[Path], RawClient]]:
    clients: list[RawClient] = []

    def open_(path: Path) -> RawClient:
        client = RawClient(path)
        clients.append(client)
        return client

    yield open_
    for client in clients:
        client.close()


async def booted(sim: SimulatedModem, open_client: Callable[[Path], RawClient]) -> RawClient:
    """Start ``sim``, open it, wait for the last boot URC, turn echo off."""
    await sim.start()
    client = open_client(sim.path)
    await client.expect(f"{sim.profile.boot_urcs[-1]}\r\n".encode())
    await client.command("ATE0")
    return client
