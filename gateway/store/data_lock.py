"""One owner per data directory: an exclusive ``flock`` on ``<data_dir>/daemon.lock``.

The daemon holds it for its lifetime and ``smsgw rotate-key`` while it re-encrypts,
so two processes never keep different key rings for one database, and the CLI
can tell whether a daemon runs. The kernel drops the lock when its holder dies,
so a crash leaves nothing stale to clean up. Taking it also tightens a data
directory others could read or enter to 0700 (it holds the database and often the
key file). The file names its holder
(``daemon pid 123``) for the message a refused process prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Final

from gateway.errors import DataDirInUse, StoreError
from gateway.store.files import make_private_dir

log = logging.getLogger(__name__)

LOCK_FILE_NAME: Final = "daemon.lock"
_MAX_HOLDER_BYTES: Final = 256


class DataDirLock:
    """A held lock; ``release`` (or process exit) lets the next owner in."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, data_dir: Path, role: str) -> DataDirLock:
        """Take the lock at once or raise ``DataDirInUse`` naming who holds it."""
        try:
            if make_private_dir(data_dir):
                log.warning("data directory %s was open to others; made it 0700", data_dir)
        except OSError as exc:
            raise StoreError(f"cannot make {data_dir} private: {exc.strerror}") from exc
        path = data_dir / LOCK_FILE_NAME
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise DataDirInUse(
                f"data directory {data_dir} is in use by another smsgw process"
                f" ({holder or 'holder unknown'}); one process at a time owns it"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot lock {path}: {exc.strerror}") from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{role} pid {os.getpid()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot write {path}: {exc.strerror}") from exc
        return cls(fd, path)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing drops the lock


def holder(data_dir: Path) -> str | None:
    """Who holds the lock (``daemon pid 123``), or None when nobody does."""
    path = data_dir / LOCK_FILE_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd) or "holder unknown"
        return None
    finally:
        os.close(fd)


def _open(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot open {path}: {exc.strerror}") from exc
    with contextlib.suppress(OSError):
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    return fd


def _read_holder(fd: int) -> str:
    try:
        raw = os.pread(fd, _MAX_HOLDER_BYTES, 0)
    except OSError:
        return ""
    return raw.decode(errors="replace").strip()
