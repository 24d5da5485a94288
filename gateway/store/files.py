"""The database files on disk: created private, measured for ``stats``.

SQLite creates a missing database file with the process umask (usually 0644)
and gives its ``-wal`` and ``-shm`` files the database file's mode. Creating
the file ourselves with 0600 *before* SQLite opens it therefore makes all three
private from the first byte.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

from gateway.crypto import fsync_dir

PRIVATE_MODE = 0o600
_COMPANIONS = ("-wal", "-shm")


def make_private(path: Path) -> None:
    """Create ``path`` (mode 0600) if missing; tighten it and its companions if not."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_NOFOLLOW, PRIVATE_MODE)
    except FileExistsError:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
        created = False
    else:
        created = True
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, PRIVATE_MODE)
        if created:
            # The new name must survive a power cut too, or the first commits go with it.
            os.fsync(fd)
            fsync_dir(path.parent)
    finally:
        os.close(fd)
    for suffix in _COMPANIONS:
        companion = Path(f"{path}{suffix}")
        try:
            if stat.S_IMODE(companion.stat().st_mode) & 0o077:
                companion.chmod(PRIVATE_MODE)
        except FileNotFoundError:
            pass


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
