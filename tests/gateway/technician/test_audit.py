"""The hash-chained audit trail: verifies, notices tampering, survives key rotation, and
records the CLI's key changes."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.cli import admin as cli_admin
from gateway.cli import main as cli
from gateway.config import load_config
from gateway.crypto import KeyRing, key_id_of
from gateway.errors import AuditBroken
from gateway.store.base import AuditEntry
from gateway.store.sqlite import SqliteStore

AT_COMMAND = 'AT+CPBW=1,"+15551234567",145'


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    path = tmp_path / "key.json"
    KeyRing.create(path)
    return path


@pytest.fixture
async def store(tmp_path: Path, key_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "smsgw.db", KeyRing.load(key_path), durable=False)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def _fill(store: SqliteStore) -> None:
    await store.audit("key_a", "modem.at", {"command": AT_COMMAND}, subject="alpha")
    await store.audit("key_a", "modem.ussd", {"code": "*100#"}, subject="alpha")
    await store.audit("cli", "key.create", {"name": "ehr", "scopes": ["send"]}, subject="key_b")
    await store.audit("daemon", "modem.reset", {})


def _tamper(path: Path, sql: str, *params: object) -> None:
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()


async def test_the_chain_verifies_and_lists_newest_first(store: SqliteStore) -> None:
    assert await store.verify_audit() == 0
    await _fill(store)
    assert await store.verify_audit() == 4
    page = await store.list_audit(cursor=None, limit=3)
    assert [e.action for e in page.items] == ["modem.reset", "key.create", "modem.ussd"]
    assert page.next_cursor is not None
    rest = await store.list_audit(cursor=page.next_cursor, limit=3)
    [first] = rest.items
    assert isinstance(first, AuditEntry)
    assert (first.actor, first.subject, first.detail) == (
        "key_a",
        "alpha",
        {"command": AT_COMMAND},
    )
    assert rest.next_cursor is None


async def test_the_detail_is_sealed_at_rest(store: SqliteStore) -> None:
    await _fill(store)
    files = sorted(store.path.parent.glob("*.db*"))  # the database and its -wal
    raw = b"".join(path.read_bytes() for path in files)
    assert b"15551234567" not in raw
    assert b"CPBW" not in raw


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("UPDATE audit SET action = ? WHERE id = 2", ("modem.at",)),
        ("UPDATE audit SET actor = ? WHERE id = 1", ("cli",)),
        ("UPDATE audit SET at = at + 1 WHERE id = 3", ()),
        ("UPDATE audit SET subject = ? WHERE id = 1", ("beta",)),
        ("UPDATE audit SET detail_enc = (SELECT detail_enc FROM audit WHERE id = 1) "
         "WHERE id = 2", ()),
        ("DELETE FROM audit WHERE id = 2", ()),
        ("DELETE FROM audit WHERE id = 4", ()),
        ("UPDATE audit SET hash = zeroblob(32) WHERE id = 4", ()),
    ],
    ids=["action", "actor", "time", "subject", "detail", "middle", "last", "hash"],
)  # fmt: skip
async def test_tampering_breaks_the_chain(
    store: SqliteStore, sql: str, params: tuple[object, ...]
) -> None:
    await _fill(store)
    _tamper(store.path, sql, *params)
    with pytest.raises(AuditBroken) as info:
        await store.verify_audit()
    assert info.value.code == "audit_broken"


async def test_rewriting_the_chain_without_the_key_is_noticed(store: SqliteStore) -> None:
    """Recomputing the SHA-256 links after an edit is not enough: each link covers a
    digest keyed with the key file's lookup key."""
    import hashlib

    from gateway.store.audit import canonical

    await _fill(store)
    conn = sqlite3.connect(store.path)
    try:
        rows = conn.execute(
            "SELECT id, at, actor, action, subject, prev_hash, hash FROM audit ORDER BY id"
        ).fetchall()
        with conn:
            conn.execute("UPDATE audit SET actor = 'someone' WHERE id = 1")
            prev = rows[0][5]
            for entry_id, at, actor, action, subject, _prev, _hash in rows:
                actor = "someone" if entry_id == 1 else actor
                forged = hashlib.sha256(
                    prev + canonical([entry_id, at, actor, action, subject, "0" * 64])
                ).digest()
                conn.execute(
                    "UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?",
                    (prev, forged, entry_id),
                )
                prev = forged
    finally:
        conn.close()
    with pytest.raises(AuditBroken):
        await store.verify_audit()


async def test_the_chain_survives_key_rotation(store: SqliteStore, key_path: Path) -> None:
    await _fill(store)
    old = store.keyring.current
    new = store.keyring.rotate(key_path)
    assert await store.rotate_key() >= 4
    conn = sqlite3.connect(store.path)
    try:
        sealed = [row[0] for row in conn.execute("SELECT detail_enc FROM audit")]
    finally:
        conn.close()
    assert {key_id_of(blob) for blob in sealed} == {new} != {old}
    assert await store.verify_audit() == 4
    [entry] = (await store.list_audit(cursor=None, limit=4)).items[3:]
    assert entry.detail == {"command": AT_COMMAND}


CONFIG = """
[store]
data_dir = "data"
durable = false

[[modems]]
name = "m1"
simulate = "generic"
"""


def test_cli_key_changes_rotation_and_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "smsgw.toml"
    path.write_text(CONFIG)
    config = ["--config", str(path)]
    assert cli.main(["init", *config]) == cli.EXIT_OK
    assert cli.main(["keys", "create", "--name", "ehr", "--scopes", "send", *config]) == 0
    key_id = capsys.readouterr().out.split("created API key ")[1].split()[0]
    assert cli.main(["keys", "revoke", key_id, *config]) == cli.EXIT_OK
    assert cli.main(["rotate-key", *config]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["audit", "verify", *config]) == cli.EXIT_OK
    assert "4 entries" in capsys.readouterr().out

    store_config = load_config(path).store

    async def entries() -> list[AuditEntry]:
        async with cli_admin.open_store(store_config) as store:
            return (await store.list_audit(cursor=None, limit=10)).items

    listed = asyncio.run(entries())
    assert [(e.actor, e.action) for e in reversed(listed)] == [
        ("cli", "key.create"),
        ("cli", "key.create"),
        ("cli", "key.revoke"),
        ("cli", "key.rotate"),
    ]
    assert listed[1].subject == key_id
    assert listed[1].detail == {"name": "ehr"}

    _tamper(store_config.database, "UPDATE audit SET action = 'key.create' WHERE id = 3")
    assert cli.main(["audit", "verify", *config]) == cli.EXIT_ERROR
    assert "audit entry 3" in capsys.readouterr().err
