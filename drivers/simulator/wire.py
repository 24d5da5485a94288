"""The modem's end of the pty: framed input, buffered output, no AT knowledge.

Input is split into command lines (ended by CR, as S3 says) or, after the ``> ``
prompt, into one PDU ended by Ctrl-Z (or cancelled by ESC). Chunks are scanned
with ``bytes.find``; there is no per-byte Python work. Output is written at once
and queued (bounded) only when the client does not keep up.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable
from typing import Final

from drivers.simulator.pty_link import PtyLink

LOGGER = logging.getLogger(__name__)

READ_CHUNK: Final = 65536  # bytes per os.read of the master
MAX_LINE: Final = 4096  # a command line longer than this is dropped (a modem's buffer)
MAX_PDU_INPUT: Final = 4096  # hex characters accepted after the "> " prompt
MAX_OUTPUT: Final = 1 << 20  # output queued for a client that does not read; beyond it, drop
DRIP_POLL: Final = 0.002  # seconds between pieces, and between looks for an unread one
CR: Final = 0x0D
CTRL_Z: Final = 0x1A
ESC: Final = 0x1B


class Wire:
    """Reads and writes the pty master on the event loop (``add_reader``/``add_writer``).

    ``on_line(raw)`` gets each command line without its CR; ``on_pdu(raw)`` gets the
    text before Ctrl-Z, or None for ESC. ``deaf`` drops input (booting, hung);
    ``paused`` keeps it for later (a command is still being answered); ``mute``
    drops output (hung).
    """

    def __init__(
        self,
        link: PtyLink,
        on_line: Callable[[bytes], None],
        on_pdu: Callable[[bytes | None], None],
    ) -> None:
        self.link = link
        self._on_line = on_line
        self._on_pdu = on_pdu
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in = bytearray()
        self._out = bytearray()
        self._writer_on = False
        self.pdu_mode = False
        self.deaf = True
        self.paused = False
        self.mute = False
        self.chunk: int | None = None  # write pieces of at most this size, each read alone
        self._drip: asyncio.Handle | None = None

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        master = self.link.open()
        loop.add_reader(master, self._readable)

    def _drip_one(self) -> None:
        """One piece of ``chunk`` bytes, once the client has read the one before."""
        self._drip = None
        master = self.link.master
        if master is None or not self._out or self._loop is None:
            return
        if self.link.pending_input() > 0:
            self._drip = self._loop.call_later(DRIP_POLL, self._drip_one)
            return
        piece = bytes(self._out[: self.chunk or len(self._out)])
        try:
            written = os.write(master, piece)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            LOGGER.debug("simulated modem %s: write failed: %s", self.link.path, exc)
            written = len(self._out)
        del self._out[:written]
        if self._out:  # a pty hands bytes over a moment after the write: leave it that moment
            self._drip = self._loop.call_later(DRIP_POLL, self._drip_one)

    def close(self) -> None:
        if self._drip is not None:
            self._drip.cancel()
            self._drip = None
        master = self.link.master
        if master is not None and self._loop is not None:
            self._loop.remove_reader(master)
            if self._writer_on:
                self._loop.remove_writer(master)
        self._writer_on = False
        self.link.close()
        self._in.clear()
        self._out.clear()
        self.pdu_mode = False
        self.paused = False
        self.deaf = True

    @property
    def draining(self) -> bool:
        """Output not yet read by the client (queued here or in the tty)."""
        return bool(self._out) or self.link.pending_input() > 0

    def _readable(self) -> None:
        master = self.link.master
        if master is None:
            return
        try:
            data = os.read(master, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                LOGGER.warning("simulated modem %s: read failed: %s", self.link.path, exc)
            return
        if not data or self.deaf:
            return  # a hung or booting modem does not listen
        self._in += data
        self.process()

    def process(self) -> None:
        """Hand complete lines/PDUs to the callbacks until paused or out of input."""
        buf = self._in
        while buf and not self.paused and not self.deaf:
            if self.pdu_mode:
                end_z = buf.find(CTRL_Z)
                end_esc = buf.find(ESC)
                if end_z < 0 and end_esc < 0:
                    if len(buf) > MAX_PDU_INPUT:
                        buf.clear()
                    return
                self.pdu_mode = False
                if end_esc >= 0 and (end_z < 0 or end_esc < end_z):
                    del buf[: end_esc + 1]
                    self._on_pdu(None)
                else:
                    raw = bytes(buf[:end_z])
                    del buf[: end_z + 1]
                    self._on_pdu(raw)
                continue
            end = buf.find(CR)
            if end < 0:
                if len(buf) > MAX_LINE:
                    buf.clear()
                return
            raw = bytes(buf[:end])
            del buf[: end + 1]
            self._on_line(raw)

    def write(self, data: bytes, *, force: bool = False) -> None:
        master = self.link.master
        if master is None or (self.mute and not force):
            return
        if self.chunk is not None or self._drip is not None:
            if len(self._out) + len(data) <= MAX_OUTPUT:
                self._out += data
            if self._drip is None and self._loop is not None:
                self._drip = self._loop.call_soon(self._drip_one)
            return
        if self._out:
            if len(self._out) + len(data) <= MAX_OUTPUT:
                self._out += data
            return
        try:
            written = os.write(master, data)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            LOGGER.debug("simulated modem %s: write failed: %s", self.link.path, exc)
            return
        if written < len(data):
            self._out += data[written:]
            if not self._writer_on and self._loop is not None:
                self._loop.add_writer(master, self._writable)
                self._writer_on = True

    def _writable(self) -> None:
        master = self.link.master
        if master is None:
            return
        try:
            written = os.write(master, self._out)
        except BlockingIOError:
            return
        except OSError as exc:
            LOGGER.debug("simulated modem %s: write failed: %s", self.link.path, exc)
            written = len(self._out)
        del self._out[:written]
        if not self._out and self._writer_on and self._loop is not None:
            self._loop.remove_writer(master)
            self._writer_on = False
