"""The serial link: device paths with an exclusive lock, pyserial URLs, loss reporting."""

from __future__ import annotations

import asyncio

import pytest

from drivers.engine import AtEngine, encode_command
from drivers.errors import ModemDisconnected, ModemUnavailable
from drivers.transport import PortGone, SerialLink
from tests.drivers.conftest import WAIT, EngineRig, Recorder, ScriptedPeer


class Sink:
    def __init__(self) -> None:
        self.data = bytearray()
        self.lost: list[BaseException | None] = []
        self.gone = asyncio.Event()

    def feed(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost.append(exc)
        self.gone.set()


async def test_second_open_of_a_device_path_is_refused(rig: EngineRig) -> None:
    second = SerialLink(rig.peer.path)
    second.attach(Sink())
    with pytest.raises(ModemUnavailable):
        await second.open()
    assert await rig.engine.command("AT", seconds=WAIT) == []  # the first owner is unharmed


async def test_missing_device_is_unavailable(tmp_path: object) -> None:
    link = SerialLink("/dev/serial/by-id/usb-nothing-here")
    link.attach(Sink())
    with pytest.raises(ModemUnavailable):
        await link.open()


async def test_unplug_is_reported_once_with_an_error(peer: ScriptedPeer) -> None:
    link = SerialLink(peer.path)
    sink = Sink()
    link.attach(sink)
    await link.open()
    peer.unplug()
    async with asyncio.timeout(WAIT):
        await sink.gone.wait()
    assert len(sink.lost) == 1
    assert sink.lost[0] is not None
    await link.close()  # closing after a loss is harmless
    assert len(sink.lost) == 1


async def test_deliberate_close_reports_no_error(peer: ScriptedPeer) -> None:
    link = SerialLink(peer.path)
    sink = Sink()
    link.attach(sink)
    await link.open()
    await link.close()
    assert sink.lost == [None]
    assert not link.is_open


async def test_socket_url_and_peer_hangup() -> None:
    """``socket://`` (ser2net, a remote simulator) works; EOF counts as an unplug."""
    hangup = asyncio.Event()

    async def modem(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readuntil(b"\r")
        assert line == b"AT+CGMI\r"
        writer.write(b"\r\nSocketModem\r\n\r\nOK\r\n")
        await writer.drain()
        await hangup.wait()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(modem, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        link = SerialLink(f"socket://127.0.0.1:{port}")
        recorder = Recorder()
        engine = AtEngine(link, recorder)
        lost: list[BaseException | None] = []
        gone = asyncio.Event()

        class Both:
            def feed(self, data: bytes) -> None:
                engine.feed(data)

            def connection_lost(self, exc: BaseException | None) -> None:
                lost.append(exc)
                engine.connection_lost(exc)
                gone.set()

        link.attach(Both())
        await link.open()
        assert await engine.command("AT+CGMI", seconds=WAIT) == ["SocketModem"]
        hangup.set()
        async with asyncio.timeout(WAIT):
            await gone.wait()
        assert isinstance(lost[0], PortGone | ConnectionError)
        with pytest.raises(ModemDisconnected):
            await engine.command("AT", seconds=WAIT)
        await link.close()
    finally:
        server.close()
        await server.wait_closed()


def test_commands_cannot_smuggle_a_second_line() -> None:
    assert encode_command("AT+CSQ") == b"AT+CSQ\r"
    for bad in ("AT\rAT+CMGD=1,4", 'AT+CUSD=1,"*1#"\x1a', "AT+CGMI\u00e9"):
        with pytest.raises(ValueError, match="one line"):
            encode_command(bad)


async def test_cancelled_open_releases_the_port(peer: ScriptedPeer) -> None:
    """A deadline that cancels the open must not leave the port locked by a lost handle."""
    first = SerialLink(peer.path)
    first.attach(Sink())
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0):  # expires while the executor is still opening
            await first.open()
    async with asyncio.timeout(WAIT):
        while True:
            second = SerialLink(peer.path)
            sink = Sink()
            second.attach(sink)
            try:
                await second.open()
                break
            except ModemUnavailable:
                await asyncio.sleep(0.01)  # the abandoned open is still closing: poll
    await second.close()
    assert sink.lost == [None]
