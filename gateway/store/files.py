"""The database files on disk: created private, measured for ``stats``.

SQLite creates a missing database file with the process umask (usually 0644)
and gives its ``-wal`` and ``-shm`` files the database file's mode. Creating
the file ourselves with 0600 *before* SQLite opens it therefore makes all three
private from the first byte.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

from gateway.crypto import fsync_dir
from gateway.errors import StoreError

PRIVATE_MODE = 0o600
_COMPANIONS = ("-wal", "-shm")


def make_private(path: Path) -> None:
    """Create ``path`` (mode 0600) if missing; tighten it and its companions if not.

    An existing file is only stat'ed and chmod'ed by name, never opened: closing any
    descriptor of a file drops every POSIX lock this process holds on it, including
    the shared lock of a connection already open on it. Without that lock, another
    process (``smsgw keys``) closing its connection believes it is the last one,
    checkpoints and deletes the write-ahead log, and this process goes on committing
    into the deleted file: a stale view for its readers, and its writes lost at the
    next start."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_NOFOLLOW, PRIVATE_MODE)
    except FileExistsError:
        _tighten(path)
    else:
        try:
            # The new name must survive a power cut too, or the first commits go with it.
            os.fsync(fd)
        finally:
            os.close(fd)  # nothing else can hold a lock on a file just created
        fsync_dir(path.parent)
    for suffix in _COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            _tighten(Path(f"{path}{suffix}"))


def _tighten(path: Path) -> None:
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise StoreError(f"{path} is a symbolic link; refusing to open it")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, PRIVATE_MODE)


class PrivateFileConnection(sqlite3.Connection):
    """A connection that makes its file private before SQLite opens it.

    Passed as ``factory=`` to ``sqlite3.connect`` on the connection's own thread
    (:class:`~gateway.store.connection.ConnectionThread`), so the file work stays off
    the event loop."""

    def __init__(self, database: str | os.PathLike[str], *args: Any, **kwargs: Any) -> None:
        make_private(Path(database))
        super().__init__(database, *args, **kwargs)


def wal_bytes(path: Path) -> int:
    try:
        return Path(f"{path}-wal").stat().st_size
    except FileNotFoundError:
        return 0
