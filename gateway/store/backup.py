"""Online copies of the database, and the checks a copy passes before it replaces one.

A copy is made with SQLite's backup API in one step: it reads one snapshot (a WAL
reader, which never blocks the daemon's writer), so it is consistent however busy
the daemon is. The copy keeps every value sealed, as the database holds it; the key
file is never part of it. Before a restore replaces anything, the copy must pass a
page check, have a schema this gateway understands, and open its canary with the
key file the daemon will use.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gateway.crypto import KeyRing, fsync_dir, key_id_of
from gateway.errors import KeyFileError, StoreDamaged, StoreError, StoreMissing
from gateway.store import housekeeping
from gateway.store.files import make_private
from gateway.store.migrations import SCHEMA_VERSION

BACKUP_PREFIX: Final = "smsgw-"
BACKUP_SUFFIX: Final = ".db"
_CHECK_ERRORS: Final = 5  # problems named when a copy fails its check


@dataclass(frozen=True, slots=True)
class BackupInfo:
    path: Path
    size: int  # bytes
    schema_version: int
    key_id: str  # the key that sealed the canary: the key file must hold it


def backup_name(at: float) -> str:
    """Sortable by time, so the oldest are pruned first."""
    return BACKUP_PREFIX + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at)) + BACKUP_SUFFIX


def copy_database(database: Path, target: Path) -> BackupInfo:
    """A consistent copy of ``database`` at ``target`` (0600, fsynced, in place only when
    complete); safe while the daemon runs."""
    if not database.exists():
        raise StoreMissing(f"database {database} does not exist")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    make_private(partial)
    try:
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, isolation_level=None)
        try:
            copy = sqlite3.connect(partial, isolation_level=None)
            try:
                source.backup(copy)  # pages=-1: one step, one snapshot
                # One self-contained file: no write-ahead log beside it.
                copy.execute("PRAGMA journal_mode=DELETE")
                info = _inspect(copy, target)
            finally:
                copy.close()
        finally:
            source.close()
        _fsync(partial)
        os.replace(partial, target)
    except sqlite3.DatabaseError as exc:
        partial.unlink(missing_ok=True)
        raise StoreDamaged(f"{database} cannot be copied: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    return BackupInfo(target, target.stat().st_size, info.schema_version, info.key_id)


def check_copy(path: Path, keyring: KeyRing) -> BackupInfo:
    """Raise unless ``path`` is a sound copy of a database that ``keyring`` opens:
    ``StoreDamaged`` for a file that is not one, ``KeyFileError`` for another key's."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreDamaged(f"{path} cannot be opened as a database: {exc}") from None
    try:
        info = _inspect(conn, path)
        (canary,) = conn.execute("SELECT value FROM meta WHERE key = 'canary'").fetchone()
    except sqlite3.Error as exc:
        raise StoreDamaged(f"{path} is not a sound smsgw database: {exc}") from None
    finally:
        conn.close()
    try:
        opens = keyring.open(canary, aad=housekeeping.CANARY_AAD) == housekeeping.CANARY
    except (KeyFileError, StoreError):
        opens = False
    if not opens:
        raise KeyFileError(
            f"the backup {path.name} was sealed with key {info.key_id}, which the key file "
            f"does not hold (it has {', '.join(sorted(keyring.key_ids))}); restore the key "
            "file that was in use when the backup was made"
        )
    return info


def _inspect(conn: sqlite3.Connection, path: Path) -> BackupInfo:
    problems = [
        str(row[0])
        for row in conn.execute(f"PRAGMA quick_check({_CHECK_ERRORS})")
        if row[0] != "ok"
    ]
    if problems:
        raise StoreDamaged(f"{path} failed its integrity check: {'; '.join(problems)}")
    try:
        version_row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        canary_row = conn.execute("SELECT value FROM meta WHERE key = 'canary'").fetchone()
    except sqlite3.OperationalError:
        version_row = canary_row = None
    if version_row is None or canary_row is None:
        raise StoreDamaged(f"{path} is not an smsgw database (no schema version or canary)")
    version = int(version_row[0])
    if version > SCHEMA_VERSION:
        raise StoreDamaged(
            f"{path} has schema version {version}, newer than this gateway understands "
            f"({SCHEMA_VERSION}); restore it with the version that made it"
        )
    size = 0
    with contextlib.suppress(FileNotFoundError):
        size = path.stat().st_size
    return BackupInfo(path, size, version, key_id_of(bytes(canary_row[0])))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
