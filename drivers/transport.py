"""The serial port on the event loop: bytes in, bytes out, and the news that it went away.

``SerialLink`` opens a device path (``/dev/serial/by-id/...``, a simulator's pty) with an
exclusive advisory lock, or a pyserial URL (``socket://host:port``), through
pyserial-asyncio-fast, which reads with ``loop.add_reader`` and opens/closes the port in
an executor. It knows nothing about AT commands: received bytes go to a ``ByteSink``, and
an unplug (EIO/ENXIO, EOF, a vanished socket) is reported once as ``connection_lost``.
Deadlines belong to the callers (the modem layer): nothing here waits on its own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol, cast

import serial
import serial_asyncio_fast

from drivers.errors import ModemUnavailable

log = logging.getLogger(__name__)


class ByteSink(Protocol):
    def feed(self, data: bytes) -> None: ...

    def connection_lost(self, exc: BaseException | None) -> None: ...


class PortGone(ConnectionError):
    """The port ended without an error of its own (EOF on a socket, closed by the peer)."""


class _Protocol(asyncio.Protocol):
    def __init__(self, link: SerialLink) -> None:
        self._link = link

    def data_received(self, data: bytes) -> None:
        self._link._received(data)

    def eof_received(self) -> bool | None:
        return False  # close; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._link._on_lost(exc)


def is_url(port: str) -> bool:
    return "://" in port


class SerialLink:
    """One open of one port. Make a new link to reopen."""

    def __init__(self, port: str, *, baudrate: int = 115200) -> None:
        self.port = port
        self.baudrate = baudrate
        self._sink: ByteSink | None = None
        self._transport: asyncio.Transport | None = None
        self._closing = False
        self._gone: asyncio.Future[None] | None = None

    def attach(self, sink: ByteSink) -> None:
        self._sink = sink

    @property
    def is_open(self) -> bool:
        return self._transport is not None and self._gone is not None and not self._gone.done()

    async def open(self) -> None:
        """Open the port; raises ModemUnavailable (missing, locked, refused)."""
        loop = asyncio.get_running_loop()
        self._gone = loop.create_future()
        kwargs: dict[str, object] = {"baudrate": self.baudrate}
        if not is_url(self.port):
            kwargs["exclusive"] = True
        opening = asyncio.ensure_future(
            serial_asyncio_fast.create_serial_connection(
                loop, lambda: _Protocol(self), self.port, **kwargs
            )
        )
        try:
            transport, _ = await asyncio.shield(opening)
        except (OSError, serial.SerialException, ValueError) as exc:
            self._abandon(opening)
            raise ModemUnavailable(f"cannot open port: {type(exc).__name__}") from exc
        except asyncio.CancelledError:  # the caller's deadline: close it if it opens later
            self._abandon(opening)
            raise
        self._transport = cast(asyncio.Transport, transport)

    def _abandon(self, opening: asyncio.Future[tuple[Any, Any]]) -> None:
        """The executor thread may still open the port: close it when it does."""
        if self._gone is not None and not self._gone.done():
            self._gone.cancel()
        self._closing = True

        def close_late(done: asyncio.Future[tuple[Any, Any]]) -> None:
            if done.cancelled() or done.exception() is not None:
                return
            cast(asyncio.Transport, done.result()[0]).abort()

        if opening.done():
            close_late(opening)
        else:
            opening.add_done_callback(close_late)

    def write(self, data: bytes) -> None:
        if self._transport is None or self._closing or self._transport.is_closing():
            return
        self._transport.write(data)

    async def close(self) -> None:
        """Deliberate close; returns when the port is really released (its close runs in
        an executor thread, so callers put a deadline on this)."""
        if self._transport is None or self._gone is None:
            return
        self._closing = True
        if not self._gone.done():
            if not self._transport.is_closing():
                self._transport.abort()  # no tcdrain: a hung modem would block the flush
            await asyncio.shield(self._gone)

    def _received(self, data: bytes) -> None:
        if self._sink is not None:
            try:
                self._sink.feed(data)
            except Exception:
                log.exception("byte sink failed; data dropped")

    def _on_lost(self, exc: Exception | None) -> None:
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)
        if exc is None and not self._closing:
            exc = PortGone("port closed by the other side")
        if exc is not None:
            log.info("port lost: %s", type(exc).__name__)
        if self._sink is not None:
            try:
                self._sink.connection_lost(exc)
            except Exception:
                log.exception("byte sink failed on connection loss")
