"""``smsgw backup`` and ``smsgw restore``: the database copied out while the daemon runs,
and copied back, checked first, while it does not.

A backup holds the database only, still sealed; the key file is kept apart (it is never
written next to the backups, nor a backup into the data directory). A restore takes the
data directory's lock, so it never replaces a database under a running daemon, and
checks the copy against the key file the daemon will use before it moves anything; the
database it replaces is kept beside it, renamed, not deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gateway.cli.admin import CLI_ACTOR, open_store, private_umask
from gateway.config import StoreConfig
from gateway.crypto import KeyRing, fsync_dir
from gateway.errors import ValidationError
from gateway.store import files
from gateway.store.backup import (
    BACKUP_PREFIX,
    BACKUP_SUFFIX,
    BackupInfo,
    backup_name,
    check_copy,
    copy_database,
)
from gateway.store.data_lock import DataDirLock

RESTORE_ACTION: Final = "store.restore"  # in the audit trail
STAGED_SUFFIX: Final = ".restoring"
REPLACED_SUFFIX: Final = ".before-restore-"


@dataclass(frozen=True, slots=True)
class BackupResult:
    info: BackupInfo
    pruned: tuple[Path, ...]  # older backups removed by --keep


@dataclass(frozen=True, slots=True)
class RestoreResult:
    info: BackupInfo
    replaced: Path | None  # where the database it replaced was moved


def backup(cfg: StoreConfig, target_dir: Path, *, keep: int | None = None) -> BackupResult:
    """A new ``smsgw-<UTC time>.db`` in ``target_dir``; then, with ``keep``, only the
    newest ``keep`` backups there are kept (backups are out of the retention purge's reach)."""
    if keep is not None and keep < 1:
        raise ValidationError("--keep must be at least 1", field="keep")
    target_dir = target_dir.expanduser().absolute()
    for private in {cfg.data_dir.absolute(), cfg.key_file.parent.absolute()}:
        if target_dir == private or private in target_dir.parents:
            raise ValidationError(
                f"{target_dir} is inside {private}, beside the key file or the database; "
                "keep backups elsewhere (and the key file apart from them)",
                field="to",
            )
    with private_umask():
        target_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = copy_database(cfg.database, target_dir / backup_name(time.time()))
    pruned: list[Path] = []
    if keep is not None:
        made = sorted(p for p in target_dir.glob(f"{BACKUP_PREFIX}*{BACKUP_SUFFIX}") if p.is_file())
        for old in made[: max(0, len(made) - keep)]:
            old.unlink()
            pruned.append(old)
    return BackupResult(info, tuple(pruned))


def restore(cfg: StoreConfig, source: Path) -> RestoreResult:
    """Replace the database with the backup at ``source``, once it checks out against
    the key file; refused (``DataDirInUse``) while a daemon runs."""
    if not source.is_file():
        raise ValidationError(f"no backup file at {source}", field="from")
    ring = KeyRing.load(cfg.key_file)
    lock = DataDirLock.acquire(cfg.data_dir, "restore")
    try:
        staged = cfg.database.with_name(cfg.database.name + STAGED_SUFFIX)
        try:
            with private_umask():
                copy_database(source, staged)
                info = check_copy(staged, ring)
            replaced = _move_aside(cfg.database)
            os.replace(staged, cfg.database)
            fsync_dir(cfg.database.parent)
        finally:
            for leftover in (staged, *_companions(staged)):
                leftover.unlink(missing_ok=True)
        asyncio.run(_record(cfg, ring, source, info))
    finally:
        lock.release()
    return RestoreResult(info, replaced)


async def _record(cfg: StoreConfig, ring: KeyRing, source: Path, info: BackupInfo) -> None:
    """Opening the store also migrates a backup made by an older version."""
    async with open_store(cfg, ring) as store:
        detail = {"backup": source.name, "schema_version": info.schema_version}
        await store.audit(CLI_ACTOR, RESTORE_ACTION, detail, subject=None)


def _move_aside(database: Path) -> Path | None:
    """The current database (with its log) renamed, not deleted: a restore can be undone."""
    if not database.exists():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = database.with_name(database.name + REPLACED_SUFFIX + stamp)
    for companion, moved in zip(_companions(database), _companions(aside), strict=True):
        with contextlib.suppress(FileNotFoundError):
            os.replace(companion, moved)
    os.replace(database, aside)
    files.forget_created(database)  # made again when the restored database is opened
    return aside


def _companions(database: Path) -> tuple[Path, Path]:
    return Path(f"{database}-wal"), Path(f"{database}-shm")
