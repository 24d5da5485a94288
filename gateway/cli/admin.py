"""The CLI's host-side admin actions: they open the store with the key file.

``init``, ``keys`` and ``rotate-key`` act on the files directly rather than
through the API, so the technician can bootstrap and recover a gateway whose
daemon is stopped (or that has no admin key left). ``rotate-key`` leaves the
re-encryption to the daemon when one runs (it holds the data dir lock).
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, TextIO

from gateway.cli import key_limits
from gateway.cli.client import format_table
from gateway.compat.sids import account_sid, key_id_of
from gateway.config import CARE, StoreConfig
from gateway.crypto import KeyRing
from gateway.errors import DataDirInUse, KeyFileError, NotFound, StoreError, ValidationError
from gateway.store import data_lock, files
from gateway.store.base import ApiKey, KeyLimits, Scope, Store
from gateway.store.data_lock import DataDirLock
from gateway.store.rotation import ROTATE_BATCH, ROTATED_EVENT, describe_left, finish_rotation

ADMIN_KEY_NAME: Final = "admin"
ALL_SCOPES: Final = frozenset(Scope)
DEMO_KEY_FILE_NAME: Final = "demo-api-key"
CLI_ACTOR: Final = "cli"  # who the audit trail names for actions taken on the host


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Files created inside are owner-only, whatever else creates them (SQLite's -wal)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


@contextlib.asynccontextmanager
async def open_store(cfg: StoreConfig, ring: KeyRing | None = None) -> AsyncIterator[Store]:
    from gateway.store.backend import create_store

    keyring = ring if ring is not None else KeyRing.load(cfg.key_file)
    store = create_store(cfg, keyring)
    with private_umask():
        await store.open()
    try:
        yield store
    finally:
        await store.close()


def _ensure_data_dir(path: Path) -> None:
    if path.exists():
        if not path.is_dir():
            raise KeyFileError(f"data_dir {path} exists and is not a directory")
        files.make_private_dir(path)
        return
    try:
        path.mkdir(mode=0o700, parents=True)
        path.chmod(0o700)
    except OSError as exc:
        raise KeyFileError(f"cannot create data_dir {path}: {exc.strerror}") from exc


def is_initialised(cfg: StoreConfig) -> bool:
    return cfg.key_file.exists()


async def init(cfg: StoreConfig) -> str:
    """Data dir (0700), key file (0600), database (0600); returns a new admin API token."""
    if cfg.key_file.exists():
        raise KeyFileError(f"key file {cfg.key_file} already exists; refusing to overwrite it")
    if cfg.database.exists():
        raise KeyFileError(
            f"database {cfg.database} exists but its key file {cfg.key_file} does not; "
            "restore the key file instead of creating a new one"
        )
    with private_umask():
        _ensure_data_dir(cfg.data_dir)
        _ensure_data_dir(cfg.key_file.parent)
        ring = KeyRing.create(cfg.key_file)
    async with open_store(cfg, ring) as store:
        key, token = await store.create_api_key(ADMIN_KEY_NAME, ALL_SCOPES)
        await audit_key_created(store, key)
    _tighten(cfg.database)
    return token


async def new_database(cfg: StoreConfig) -> str:
    """Start over on an empty database with the existing key file, on purpose: the one
    way past the store's refusal to recreate a lost database. Refuses while a daemon
    runs or while a non-empty database is still there; returns a new admin API token."""
    if not cfg.key_file.exists():
        raise KeyFileError(f"key file {cfg.key_file} does not exist; run `smsgw init` instead")
    ring = KeyRing.load(cfg.key_file)
    lock = DataDirLock.acquire(cfg.data_dir, "init")
    try:
        _clear_lost_database(cfg.database)
        async with open_store(cfg, ring) as store:
            key, token = await store.create_api_key(ADMIN_KEY_NAME, ALL_SCOPES)
            await store.audit(CLI_ACTOR, "store.new_database", {}, subject=None)
            await audit_key_created(store, key)
    finally:
        lock.release()
    _tighten(cfg.database)
    return token


def _clear_lost_database(database: Path) -> None:
    """An empty leftover and the marker removed; a database with content is kept."""
    with contextlib.suppress(FileNotFoundError):
        if database.stat().st_size:
            raise StoreError(
                f"database {database} exists; move it away first if you mean to "
                "start over (every message in it is lost to the gateway)"
            )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    files.forget_created(database)


def _tighten(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if stat.S_IMODE(candidate.stat().st_mode) & 0o077:
                candidate.chmod(0o600)


async def demo_key(cfg: StoreConfig) -> str:
    """The demo's admin token: reused from ``<data_dir>/demo-api-key`` while it still works."""
    path = cfg.data_dir / DEMO_KEY_FILE_NAME
    async with open_store(cfg) as store:
        with contextlib.suppress(FileNotFoundError):
            token = path.read_text(encoding="utf-8").strip()
            key = await store.verify_api_key(token) if token else None
            if key is not None and key.revoked_at is None:
                return token
        key, token = await store.create_api_key("demo", ALL_SCOPES)
        await audit_key_created(store, key)
    with private_umask():
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(token + "\n")
        os.replace(tmp, path)
    return token


def parse_scopes(text: str) -> frozenset[Scope]:
    scopes = set()
    for part in text.split(","):
        name = part.strip().lower()
        if not name:
            continue
        try:
            scopes.add(Scope(name))
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise ValidationError(f"unknown scope {name!r} (known: {known})") from None
    if not scopes:
        raise ValidationError("at least one scope is required")
    return frozenset(scopes)


async def audit_key_created(store: Store, key: ApiKey) -> None:
    scopes = sorted(scope.value for scope in key.scopes)
    detail: dict[str, object] = {
        "name": key.name,
        "scopes": scopes,
        "category": key.default_category,
    }
    if key.limits != KeyLimits():
        detail["limits"] = limits_detail(key.limits)
    await store.audit(CLI_ACTOR, "key.create", detail, subject=key.id)


def check_category(name: str, categories: Iterable[str]) -> str:
    """A key's default category must be one the config defines."""
    known = sorted(categories)
    if name not in known:
        raise ValidationError(
            f"unknown category {name!r} (known: {', '.join(known)})", field="category"
        )
    return name


async def create_key(
    cfg: StoreConfig,
    name: str,
    scopes: frozenset[Scope],
    limits: KeyLimits | None = None,
    *,
    category: str = CARE,
) -> tuple[ApiKey, str]:
    async with open_store(cfg) as store:
        key, token = await store.create_api_key(name, scopes, limits, default_category=category)
        await audit_key_created(store, key)
        return key, token


async def set_key_limits(
    cfg: StoreConfig, key_id: str, change: Callable[[KeyLimits], KeyLimits]
) -> ApiKey:
    """``change`` applied to the key's current limits; the daemon honours the result at
    the key's next request."""
    async with open_store(cfg) as store:
        found = {k.id: k for k in await store.list_api_keys()}.get(key_id)
        if found is None:
            raise NotFound(f"no API key with id {key_id!r}")
        key = await store.set_api_key_limits(key_id, change(found.limits))
        await store.audit(CLI_ACTOR, "key.limits", limits_detail(key.limits), subject=key.id)
        return key


def limits_detail(limits: KeyLimits) -> dict[str, object]:
    return {
        "requests_per_minute": limits.requests_per_minute,
        "messages_per_day": limits.messages_per_day,
        "expires_at": limits.expires_at,
        "networks": list(limits.networks),
    }


async def list_keys(cfg: StoreConfig) -> list[ApiKey]:
    async with open_store(cfg) as store:
        return await store.list_api_keys()


async def revoke_key(cfg: StoreConfig, named: str) -> ApiKey:
    """Revoke the key ``named`` by its id or AccountSid."""
    key_id = key_id_of(named) or named
    async with open_store(cfg) as store:
        keys = {k.id for k in await store.list_api_keys()}
        if key_id not in keys:
            raise NotFound(f"no API key with id {named!r}")
        key = await store.revoke_api_key(key_id)
        await store.audit(CLI_ACTOR, "key.revoke", {"name": key.name}, subject=key.id)
        return key


async def callback_secret(cfg: StoreConfig, key_id: str) -> str:
    """A key's Twilio callback secret (NotFound for an unknown key); audited."""
    async with open_store(cfg) as store:
        if key_id not in {k.id for k in await store.list_api_keys()}:
            raise NotFound(f"no API key with id {key_id!r}")
        await store.audit(CLI_ACTOR, "key.callback_secret", {}, subject=key_id)
        return store.callback_secret(key_id)


async def verify_audit(cfg: StoreConfig) -> int:
    """Walk the audit trail's hash chain; the number of entries (AuditBroken if it breaks)."""
    async with open_store(cfg) as store:
        return await store.verify_audit()


@dataclass(frozen=True, slots=True)
class RotateResult:
    key_id: str
    rewritten: int
    retired: tuple[str, ...]
    daemon: str | None  # the running daemon that finishes the job, if one does


async def rotate(cfg: StoreConfig, out: TextIO) -> RotateResult:
    """A new current key in the key file; then the old keys' values re-encrypted and
    the old keys retired, by this process or, when one runs, by the daemon.

    Without a daemon the data dir lock is held throughout, so none can start
    meanwhile; the store re-encrypts in batches, each its own short transaction.
    """
    ring = KeyRing.load(cfg.key_file)
    try:
        lock = DataDirLock.acquire(cfg.data_dir, "rotate-key")
    except DataDirInUse:
        daemon = data_lock.holder(cfg.data_dir)
        if daemon is None or not daemon.startswith("daemon"):
            raise
        return _rotate_for_daemon(cfg, ring, daemon, out)
    try:
        async with open_store(cfg, ring) as store:
            old = sorted(ring.key_ids)
            with private_umask():
                key_id = ring.rotate(cfg.key_file)
            out.write(f"new key {key_id} written to {cfg.key_file} (kept: {', '.join(old)})\n")
            out.write(f"re-encrypting stored values in batches of {ROTATE_BATCH}...\n")
            out.flush()

            def progress(rewritten: int, total: int) -> None:
                out.write(f"  batch: {rewritten} values re-encrypted ({total} so far)\n")
                out.flush()

            with private_umask():
                result = await finish_rotation(
                    store,
                    ring,
                    cfg.key_file,
                    batch=ROTATE_BATCH,
                    on_batch=progress,
                    actor=CLI_ACTOR,
                )
    finally:
        lock.release()
    if result.left:
        raise StoreError(f"new key {key_id} is current, but {describe_left(result.left)}")
    out.write(f"done: {result.rewritten} values re-encrypted; all now sealed with key {key_id}\n")
    if result.retired:
        out.write(f"retired old key(s) {', '.join(result.retired)} from {cfg.key_file}\n")
    out.write("back up the key file now: backups of the old one no longer open new data\n")
    return RotateResult(key_id, result.rewritten, result.retired, None)


def _rotate_for_daemon(cfg: StoreConfig, ring: KeyRing, daemon: str, out: TextIO) -> RotateResult:
    with private_umask():
        key_id = ring.rotate(cfg.key_file)
    old = sorted(ring.key_ids - {key_id})
    out.write(
        f"new key {key_id} written to {cfg.key_file}\n"
        f"a daemon is running ({daemon}): it picks the new key up within seconds, seals new "
        f"values with it, re-encrypts stored values in the background and then retires the "
        f"old key(s) {', '.join(old)} from the key file.\n"
        f"follow it in the daemon's log (lines starting 'key rotation') or in the events "
        f"(GET /v1/events, kind {ROTATED_EVENT!r} when done)\n"
    )
    return RotateResult(key_id, 0, (), daemon)


def format_keys(keys: list[ApiKey], now: float | None = None) -> str:
    at = time.time() if now is None else now
    rows = [
        {
            "id": key.id,
            "account_sid": account_sid(key.id),
            "name": key.name,
            "scopes": ",".join(sorted(s.value for s in key.scopes)),
            "category": key.default_category,
            "created": _utc(key.created_at),
            "last used": "never" if key.last_used_at is None else _utc(key.last_used_at),
            "limits": key_limits.describe(key.limits),
            "state": _state(key, at),
        }
        for key in keys
    ]
    columns = (
        "id",
        "account_sid",
        "name",
        "scopes",
        "category",
        "created",
        "last used",
        "limits",
        "state",
    )
    return format_table(rows, columns, empty="(no API keys)")


def _state(key: ApiKey, now: float) -> str:
    if key.revoked_at is not None:
        return f"revoked {_utc(key.revoked_at)}"
    expires = key.limits.expires_at
    if expires is None:
        return "active"
    return f"expired {_utc(expires)}" if expires <= now else f"active until {_utc(expires)}"


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
