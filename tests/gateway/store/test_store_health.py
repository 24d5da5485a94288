"""A store that notices when its database is gone, rotten or cannot be written."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest

from gateway.crypto import KeyRing
from gateway.errors import StoreDamaged, StoreMissing, StoreUnavailable
from gateway.store.sqlite import SqliteStore
from tests.support import poll_until

from .conftest import new_message

PAGE = 4096  # SQLite's default page size


def _delete(db_path: Path, suffixes: tuple[str, ...] = ("", "-wal", "-shm")) -> None:
    for suffix in suffixes:
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


def _overwrite(path: Path, at: int, data: bytes) -> None:
    with path.open("r+b") as fh:
        fh.seek(at)
        fh.write(data)


def _drop_table(db_path: Path, table: str) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"DROP TABLE {table}")


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


async def _cap_pages(store: SqliteStore, pages: int) -> None:
    """``PRAGMA max_page_count`` on the writer: its writes then fail as on a full disk."""
    assert store._write_thread is not None
    await store._write_thread.run(lambda conn: conn.execute(f"PRAGMA max_page_count={pages}"))


async def test_a_deleted_database_is_noticed_and_writes_are_refused(
    store: SqliteStore, db_path: Path
) -> None:
    await store.add_messages([new_message()])
    assert store.health() is None
    _delete(db_path)
    assert "deleted or replaced" in (store.health() or "")
    with pytest.raises(StoreUnavailable) as caught:
        await store.add_messages([new_message()])
    assert caught.value.status == 503
    assert "deleted or replaced" in caught.value.message


async def test_a_replaced_database_is_noticed(
    store: SqliteStore, db_path: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    os.replace(other, db_path)
    assert "deleted or replaced" in (store.health() or "")
    with pytest.raises(StoreUnavailable):
        await store.add_messages([new_message()])


async def test_a_failing_write_marks_the_store_unhealthy_until_one_succeeds(
    store: SqliteStore,
) -> None:
    """A full disk, made real by capping the database at the pages it has now."""
    await store.add_messages([new_message()])
    await _cap_pages(store, 1)  # SQLite keeps the cap at the pages it has now
    with pytest.raises(StoreUnavailable) as caught:
        await store.add_messages([new_message(body="x" * 2000) for _ in range(50)])
    assert "full" in caught.value.message
    assert "full" in (store.health() or "")
    await _cap_pages(store, 1_000_000)
    await store.add_messages([new_message()])
    assert store.health() is None


async def test_a_missing_database_is_not_recreated_once_one_existed(
    store: SqliteStore, db_path: Path, keyring: KeyRing
) -> None:
    await store.close()
    _delete(db_path)
    again = SqliteStore(db_path, keyring)
    with pytest.raises(StoreMissing) as caught:
        await again.open()
    assert "init --new-database" in caught.value.message
    assert _size(db_path) is None


async def test_an_emptied_database_file_is_refused_too(
    store: SqliteStore, db_path: Path, keyring: KeyRing
) -> None:
    await store.close()
    _delete(db_path, ("-wal", "-shm"))
    os.truncate(db_path, 0)
    with pytest.raises(StoreMissing):
        await SqliteStore(db_path, keyring).open()


async def test_a_zeroed_header_is_a_clear_error(
    store: SqliteStore, db_path: Path, keyring: KeyRing
) -> None:
    await store.close()
    _overwrite(db_path, 0, b"\0" * 100)
    with pytest.raises(StoreDamaged) as caught:
        await SqliteStore(db_path, keyring).open()
    assert caught.value.code == "store_damaged"
    assert str(db_path) in caught.value.message


async def test_a_dropped_table_is_a_clear_error(
    store: SqliteStore, db_path: Path, keyring: KeyRing
) -> None:
    await store.close()
    _drop_table(db_path, "messages")
    with pytest.raises(StoreDamaged) as caught:
        await SqliteStore(db_path, keyring).open()
    assert "messages" in caught.value.message


async def test_a_corrupted_page_is_found_at_open(
    store: SqliteStore, db_path: Path, keyring: KeyRing
) -> None:
    await store.add_messages([new_message(body="y" * 500) for _ in range(200)])
    await store.close()
    assert (_size(db_path) or 0) > 8 * PAGE
    _overwrite(db_path, 3 * PAGE, b"\xa5" * (4 * PAGE))  # pages in the middle; header kept
    with pytest.raises(StoreDamaged) as caught:
        await SqliteStore(db_path, keyring).open()
    assert "integrity" in caught.value.message


async def test_a_check_cut_short_at_open_finishes_in_the_background_and_stops_writes(
    store: SqliteStore, db_path: Path, keyring: KeyRing
) -> None:
    """A large database opens at once (a restart answers within a second); its check goes
    on meanwhile, and damage it finds then refuses writes as a deleted file does."""
    await store.add_messages([new_message(body="y" * 500) for _ in range(200)])
    await store.close()
    # Pages of message rows near the end, which opening the store does not read.
    pages = (_size(db_path) or 0) // PAGE
    _overwrite(db_path, (pages - 6) * PAGE, b"\xa5" * (2 * PAGE))
    damaged = SqliteStore(db_path, keyring, check_at_open_bytes=0)
    await damaged.open()  # too large to check at open: opened
    try:

        async def unhealthy() -> str | None:
            return damaged.health()

        reason = await poll_until(unhealthy, "the background check's verdict", 30.0)
        assert "integrity" in reason
        with pytest.raises(StoreUnavailable):
            await damaged.add_messages([new_message()])
    finally:
        await damaged.close()


async def test_a_sound_database_checked_in_the_background_stays_writable(
    store: SqliteStore, db_path: Path, keyring: KeyRing, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.store.sqlite")
    await store.add_messages([new_message() for _ in range(200)])
    await store.close()
    sound = SqliteStore(db_path, keyring, check_at_open_bytes=0)
    await sound.open()
    try:

        async def finished() -> bool:
            return any("database check finished" in r.getMessage() for r in caplog.records)

        await poll_until(finished, "the background check", 30.0)
        assert sound.health() is None
        await sound.add_messages([new_message()])
    finally:
        await sound.close()
