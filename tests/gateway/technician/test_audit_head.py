"""The audit trail's end is sealed: cutting entries off it, or emptying it, is noticed even
when the head record is rewritten to match; damage never makes ``audit verify`` crash."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.cli import main as cli
from gateway.crypto import KeyRing
from gateway.errors import AuditBroken
from gateway.store.audit import HEAD_KEY
from gateway.store.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    key_path = tmp_path / "key.json"
    KeyRing.create(key_path)
    opened = SqliteStore(tmp_path / "smsgw.db", KeyRing.load(key_path), durable=False)
    await opened.open()
    for n in range(4):
        await opened.audit("key_a", "message.read", {"ids": [f"msg_{n}"]}, subject=f"msg_{n}")
    try:
        yield opened
    finally:
        await opened.close()


def _sql(path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    conn = sqlite3.connect(path)
    try:
        with conn:
            for sql, params in statements:
                conn.execute(sql, params)
    finally:
        conn.close()


def _hash_of(path: Path, entry_id: int) -> bytes:
    conn = sqlite3.connect(path)
    try:
        return bytes(conn.execute("SELECT hash FROM audit WHERE id = ?", (entry_id,)).fetchone()[0])
    finally:
        conn.close()


async def test_cutting_the_end_and_rewriting_the_head_is_noticed(store: SqliteStore) -> None:
    assert await store.verify_audit() == 4
    second = _hash_of(store.path, 2)
    _sql(
        store.path,
        ("DELETE FROM audit WHERE id > 2", ()),
        # What an attacker without the key file can write: the old head's own format.
        ("UPDATE meta SET value = ? WHERE key = ?", (f"2:{second.hex()}".encode(), HEAD_KEY)),
    )
    with pytest.raises(AuditBroken):
        await store.verify_audit()


async def test_emptying_the_trail_is_noticed(store: SqliteStore) -> None:
    _sql(store.path, ("DELETE FROM audit", ()), ("DELETE FROM meta WHERE key = ?", (HEAD_KEY,)))
    with pytest.raises(AuditBroken):
        await store.verify_audit()


async def test_a_new_database_verifies_empty(tmp_path: Path) -> None:
    key_path = tmp_path / "key.json"
    KeyRing.create(key_path)
    store = SqliteStore(tmp_path / "smsgw.db", KeyRing.load(key_path), durable=False)
    await store.open()
    try:
        assert await store.verify_audit() == 0
        await store.audit("cli", "key.create", {})
        assert await store.verify_audit() == 1
    finally:
        await store.close()


CONFIG = """
[store]
data_dir = "data"
durable = false

[[modems]]
name = "m1"
simulate = "generic"
"""

DAMAGE = {
    "text_link": ("UPDATE audit SET prev_hash = 'abc' WHERE id = 2", ()),
    "real_hash": ("UPDATE audit SET hash = 3.5 WHERE id = 1", ()),
    "text_detail": ("UPDATE audit SET detail_enc = 'x' WHERE id = 1", ()),
    "binary_head": ("UPDATE meta SET value = x'ff00fe' WHERE key = 'audit_head'", ()),
    "head_garbage": ("UPDATE meta SET value = 'a:b:c' WHERE key = 'audit_head'", ()),
    "text_time": ("UPDATE audit SET at = 'yesterday' WHERE id = 1", ()),
    "dropped_table": ("DROP TABLE audit", ()),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_audit_verify_reports_damage_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    path = tmp_path / "smsgw.toml"
    path.write_text(CONFIG)
    config = ["--config", str(path)]
    assert cli.main(["init", *config]) == cli.EXIT_OK
    assert cli.main(["keys", "create", "--name", "ehr", "--scopes", "send", *config]) == 0
    capsys.readouterr()
    _sql(tmp_path / "data" / "smsgw.db", DAMAGE[damage])
    # A missing table is found when the store opens, before the trail is walked.
    dropped = damage == "dropped_table"
    expected = cli.EXIT_KEY if dropped else cli.EXIT_ERROR
    assert cli.main(["audit", "verify", *config]) == expected
    captured = capsys.readouterr()
    assert ("store_damaged" if dropped else "audit_broken") in captured.err
    assert "Traceback" not in captured.err + captured.out
