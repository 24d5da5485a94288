"""Finishing a key rotation: re-encrypt what older keys sealed, then retire them.

``smsgw rotate-key`` only adds a current key to the key file when a daemon runs;
the daemon's key watch notices the file change, reloads its ring (new values are
sealed with the new key from then on), re-encrypts in batches behind the normal
writes and retires the old keys once a last scan of every sealed column finds
none left. With no daemon, the CLI calls ``finish_rotation`` itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gateway.crypto import KeyRing
from gateway.errors import GatewayError, StoreError
from gateway.store.base import Store

log = logging.getLogger(__name__)

# All durations in seconds.
KEY_WATCH_INTERVAL: Final = 2.0  # how often the key file's stat is compared
ROTATE_BATCH: Final = 500  # values re-encrypted per transaction
ROTATE_RETRY_INTERVAL: Final = 60.0  # after a failed rotation, when the file has not changed
PROGRESS_LOG_INTERVAL: Final = 5.0  # at most one progress line per this, however many batches

ROTATED_EVENT: Final = "key.rotated"
ROTATE_ACTION: Final = "key.rotate"  # in the audit trail

Stamp = tuple[int, int, int]  # inode, mtime in ns, size


@dataclass(frozen=True, slots=True)
class RotationResult:
    current: str
    rewritten: int
    retired: tuple[str, ...]
    left: dict[str, int]  # values still under an old key, by table.column (then none retired)


async def finish_rotation(
    store: Store,
    keyring: KeyRing,
    key_file: Path,
    *,
    batch: int = ROTATE_BATCH,
    on_batch: Callable[[int, int], None] | None = None,
    actor: str = "daemon",
) -> RotationResult:
    """Re-encrypt every value sealed with an old key, then retire the old keys.

    The old keys leave the file only when a final scan finds no value using them,
    and only if the ring's current key is still the one everything was sealed with
    (the file may have been rotated again meanwhile: then the next round does it)."""
    sealing_with = keyring.current
    rewritten = await store.rotate_key(batch=batch, on_batch=on_batch)
    left = await store.stale_values()
    retired: list[str] = []
    if not left and keyring.current == sealing_with:
        retired = keyring.retire(key_file)
    result = RotationResult(keyring.current, rewritten, tuple(retired), left)
    if rewritten or retired:
        detail = {"current": result.current, "reencrypted": rewritten, "retired": list(retired)}
        await store.add_event(ROTATED_EVENT, None, detail)
        await store.audit(actor, ROTATE_ACTION, detail, subject=result.current)
    return result


def describe_left(left: dict[str, int]) -> str:
    where = ", ".join(f"{place}: {count}" for place, count in sorted(left.items()))
    return f"{sum(left.values())} value(s) still sealed with an old key ({where})"


def stamp(path: Path) -> Stamp | None:
    """What changes when the file is replaced or rewritten; None while it is missing."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


class ProgressLog:
    """Progress lines for a long re-encryption, at most one per ``interval``."""

    def __init__(self, interval: float = PROGRESS_LOG_INTERVAL) -> None:
        self._interval = interval
        self._next = time.monotonic() + interval

    def __call__(self, rewritten: int, total: int) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._interval
            log.info("key rotation: %d value(s) re-encrypted so far", total)


async def watch_key_file(
    store: Store,
    keyring: KeyRing,
    key_file: Path,
    *,
    interval: float = KEY_WATCH_INTERVAL,
    batch: int = ROTATE_BATCH,
    retry_interval: float = ROTATE_RETRY_INTERVAL,
) -> None:
    """The daemon's background task: reload the ring when the key file changes, and
    finish any rotation it finds (also one left unfinished before a restart)."""
    seen: Stamp | None = None
    first = True
    retry_at: float | None = None
    while True:
        now = time.monotonic()
        current = stamp(key_file)
        if first or current != seen or (retry_at is not None and now >= retry_at):
            # Stamp first, then read: a change after the stat is seen on the next round.
            seen, first = current, False
            try:
                await _round(store, keyring, key_file, batch)
            except GatewayError as exc:
                retry_at = now + retry_interval
                log.error("key rotation failed: %s; retrying in %g s", exc.message, retry_interval)
            else:
                retry_at = None
        await asyncio.sleep(interval)  # a modelled poll period (no inotify)


async def _round(store: Store, keyring: KeyRing, key_file: Path, batch: int) -> None:
    if keyring.reload():
        log.info("key file changed: now sealing with key %s", keyring.current)
    old = sorted(keyring.key_ids - {keyring.current})
    if not old:
        return
    log.info(
        "key rotation: re-encrypting values sealed with %s under key %s, in batches of %d",
        ", ".join(old),
        keyring.current,
        batch,
    )
    result = await finish_rotation(store, keyring, key_file, batch=batch, on_batch=ProgressLog())
    if result.left:
        raise StoreError(f"old keys kept: {describe_left(result.left)}")
    if result.retired:
        log.info(
            "key rotation done: %d value(s) re-encrypted, key(s) %s retired from %s",
            result.rewritten,
            ", ".join(result.retired),
            key_file,
        )
    else:
        log.info("key rotation: the key file changed again meanwhile; continuing")
