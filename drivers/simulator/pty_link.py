"""A pseudo-terminal pair published under a stable symlink, like a /dev/serial/by-id name.

The simulator keeps its own slave fd open so that a client closing and reopening
the port does not hang up the master; closing the master is what an unplug looks
like to the client (EIO/EOF on read).
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import os
import termios
import tty
from pathlib import Path


class PtyLink:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.master: int | None = None
        self._slave: int | None = None
        self.slave_name: str | None = None

    @property
    def is_open(self) -> bool:
        return self.master is not None

    def open(self) -> int:
        """Create the pair, put the slave in raw mode and point the link at it."""
        master, slave = os.openpty()
        try:
            # Raw: no echo, no CR/LF translation by the line discipline; the
            # simulator does its own echo as a modem would.
            tty.setraw(slave, termios.TCSANOW)
            os.set_blocking(master, False)
            name = os.ttyname(slave)
            self._replace_link(name)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self.master, self._slave, self.slave_name = master, slave, name
        return master

    def _replace_link(self, target: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(target, tmp)
        os.replace(tmp, self.path)

    def pending_input(self) -> int:
        """Bytes written by us that the client has not read yet (slave input queue)."""
        if self._slave is None:
            return 0
        buf = array.array("i", [0])
        try:
            fcntl.ioctl(self._slave, termios.FIONREAD, buf, True)
        except OSError:
            return 0
        return int(buf[0])

    def close(self) -> None:
        """Remove the link and close both ends: the client sees the device vanish."""
        if self.slave_name is not None:
            with contextlib.suppress(OSError):
                if self.path.is_symlink() and os.readlink(self.path) == self.slave_name:
                    self.path.unlink()
        for fd in (self.master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self._slave = None
        self.slave_name = None
