"""Fixtures: a key ring and an opened store in a private data directory per test."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import stat
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gateway.crypto import KeyRing, key_id_of
from gateway.ids import new_id
from gateway.store.base import Change, NewMessage, Notice, Priority
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


# Stores with a fan-out: the outbox rows a change writes, in its own transaction.


@dataclass
class RecordingFanout:
    """Wants what ``wanted`` names; one receiver per change; records what it was asked."""

    wanted: frozenset[str] = frozenset(
        {"message.sent", "message.delivered", "message.failed", "inbound.received", "modem.down"}
    )
    fail: bool = False
    asked: list[str] = field(default_factory=list)
    built: list[Change] = field(default_factory=list)

    def wants(self, kind: str, metadata: Mapping[str, Any]) -> bool:
        self.asked.append(kind)
        return kind in self.wanted

    def notices(self, change: Change, spec: Callable[[str], dict[str, Any] | None]) -> list[Notice]:
        if self.fail:
            raise RuntimeError("fan-out failed")
        self.built.append(change)
        source = (
            change.message.id if change.message else change.inbound.id if change.inbound else None
        )
        text = change.message.body if change.message else change.kind
        return [
            Notice("sub_1", change.kind, "k", source, lambda row_id: f"{row_id}:{text}".encode())
        ]


@dataclass
class Wakes:
    count: int = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def fanout() -> RecordingFanout:
    return RecordingFanout()


@pytest.fixture
def wakes() -> Wakes:
    return Wakes()


@pytest.fixture
async def evented(
    db_path: Path, keyring: KeyRing, fanout: RecordingFanout, wakes: Wakes
) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(db_path, keyring, fanout=fanout, on_outbox=wakes)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def outbox_rows(db_path: Path) -> list[tuple[str, str, str | None, bytes]]:
    raw = sqlite3.connect(db_path)
    try:
        return raw.execute(
            "SELECT subscriber, kind, source, payload_enc FROM webhook_outbox ORDER BY id"
        ).fetchall()
    finally:
        raw.close()
