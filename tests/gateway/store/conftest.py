"""Fixtures: a key ring and an opened store in a private data directory per test."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.crypto import KeyRing, key_id_of
from gateway.ids import new_id
from gateway.store.base import NewMessage, Priority
from gateway.store.sqlite import SqliteStore

NUMBER = "+4915112345678"
BODY = "Your appointment with Dr Quill is on Tuesday at 09:40"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def key_path(data_dir: Path) -> Path:
    return data_dir / "key.json"


@pytest.fixture
def keyring(key_path: Path) -> KeyRing:
    return KeyRing.create(key_path)


@pytest.fixture
def db_path(data_dir: Path) -> Path:
    return data_dir / "smsgw.db"


@pytest.fixture
async def store(db_path: Path, keyring: KeyRing) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(db_path, keyring)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def file_mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def new_message(**changes: Any) -> NewMessage:
    message = NewMessage(
        id=new_id("msg"),
        to=NUMBER,
        body=BODY,
        priority=Priority.NORMAL,
        send_at=time.time(),
        expires_at=None,
        encoding="gsm7",
        segment_count=1,
        concat_ref=17,
        request_report=True,
        route=None,
    )
    return dataclasses.replace(message, **changes)


def key_ids_in_use(db_path: Path) -> set[str]:
    """The key id of every sealed value in the file: each ``*_enc`` column of every
    table (whatever created it) and the canary."""
    raw = sqlite3.connect(db_path)
    try:
        found = set()
        tables = [
            name
            for (name,) in raw.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in tables:
            for row in raw.execute(f'PRAGMA table_info("{table}")').fetchall():
                column = str(row[1])
                if not column.endswith("_enc"):
                    continue
                for (blob,) in raw.execute(
                    f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'  # noqa: S608
                ):
                    found.add(key_id_of(blob))
        (canary,) = raw.execute("SELECT value FROM meta WHERE key = 'canary'").fetchone()
        found.add(key_id_of(canary))
        return found
    finally:
        raw.close()
