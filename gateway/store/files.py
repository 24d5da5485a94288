"""The database files on disk: created private, measured for ``stats``, watched.

SQLite creates a missing database file with the process umask (usually 0644)
and gives its ``-wal`` and ``-shm`` files the database file's mode. Creating
the file ourselves with 0600 *before* SQLite opens it therefore makes all three
private from the first byte.

Beside the database, a marker (``smsgw.db.created``) records that a database was
made here. SQLite would create a missing file as a fresh empty database; with the
marker present the store refuses that, since every accepted message would be gone
without a word (``smsgw init --new-database`` starts over on purpose). While the
store is open, the file's identity (device and inode) is compared with the path's,
so a database deleted or replaced under the daemon is noticed at the next write or
health check, for the cost of one ``stat``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any, Final

from gateway.crypto import fsync_dir
from gateway.errors import StoreError, StoreMissing

PRIVATE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
MARKER_SUFFIX: Final = ".created"
_COMPANIONS = ("-wal", "-shm")

# (device, inode) of a file, or None when the path names nothing.
FileIdentity = tuple[int, int] | None


def identity(path: Path) -> FileIdentity:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def marker_path(database: Path) -> Path:
    return database.with_name(database.name + MARKER_SUFFIX)


def refuse_lost(database: Path) -> None:
    """Raise ``StoreMissing`` when the marker says a database existed here and the
    file is gone or empty: opening it would silently start over."""
    if not marker_path(database).exists():
        return
    try:
        size = os.stat(database).st_size
    except FileNotFoundError:
        state = "is missing"
    else:
        if size:
            return
        state = "is empty"
    raise StoreMissing(
        f"database {database} {state}, but one was created here before "
        f"({marker_path(database).name}); restore it from a backup, or run "
        "`smsgw init --new-database` to start over with an empty one"
    )


def mark_created(database: Path) -> None:
    """Write the marker (once; atomically), so a later loss of the database is noticed."""
    marker = marker_path(database)
    if marker.exists():
        return
    tmp = marker.with_name(f".{marker.name}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY | os.O_NOFOLLOW, PRIVATE_MODE)
    try:
        os.write(fd, f"smsgw database {database.name} in use since {time.time():.0f}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, marker)
    fsync_dir(marker.parent)


def forget_created(database: Path) -> None:
    """Remove the marker: the one explicit way to start over (``init --new-database``)."""
    marker_path(database).unlink(missing_ok=True)


def make_private_dir(path: Path) -> bool:
    """Tighten a directory others may read or enter to 0700; True when it was changed."""
    info = os.stat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise StoreError(f"data directory {path} is not a directory")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, PRIVATE_DIR_MODE)
        return True
    return False


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
