"""``smsgw keys create`` and ``keys set`` with limits, and what ``keys list`` shows."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from gateway.cli import main as cli
from gateway.config import load_config
from gateway.crypto import KeyRing
from gateway.store.backend import create_store
from gateway.store.base import AuditEntry
from tests.gateway.config.test_cli import config_path as config_path  # the fixture


def created_key(out: str) -> tuple[str, str]:
    return out.split()[3], out.strip().splitlines()[-1]


def row(listing: str, key_id: str) -> str:
    return next(line for line in listing.splitlines() if line.startswith(key_id))


async def use_key(config: Path, token: str) -> None:
    """What the daemon does on each request it authenticates, then its close."""
    cfg = load_config(config).store
    store = create_store(cfg, KeyRing.load(cfg.key_file))
    await store.open()
    try:
        assert await store.verify_api_key(token) is not None
        store.key_used(token.split("_")[1] + "_" + token.split("_")[2])
    finally:
        await store.close()


def test_keys_create_and_set_limits(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(config_path)]
    assert cli.main(["init", *args]) == cli.EXIT_OK
    capsys.readouterr()
    create = ["keys", "create", "--name", "ehr", "--rate", "120", "--daily", "500"]
    limits = ["--expires", "90d", "--networks", "10.1.0.0/16, 192.168.1.7"]
    assert cli.main([*create, *limits, *args]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "limits: 120/min, 500 msgs/day, from 10.1.0.0/16 192.168.1.7/32" in out
    key_id, token = created_key(out)

    assert cli.main(["keys", "list", *args]) == cli.EXIT_OK
    line = row(capsys.readouterr().out, key_id)
    assert "never" in line  # not used yet
    assert "120/min" in line
    assert "active until" in line

    asyncio.run(use_key(config_path, token))
    assert (
        cli.main(["keys", "set", key_id, "--rate", "none", "--expires", "2001-01-01", *args]) == 0
    )
    assert "500 msgs/day" in capsys.readouterr().out
    assert cli.main(["keys", "list", *args]) == cli.EXIT_OK
    line = row(capsys.readouterr().out, key_id)
    assert "120/min" not in line
    assert "500 msgs/day" in line
    assert "expired 2001-01-01" in line
    # Created today and last used today (a key id may itself hold a "Z": count dates).
    assert line.count(time.strftime("%Y-%m-%d", time.gmtime())) == 2

    assert cli.main(["keys", "set", key_id, *args]) == cli.EXIT_USAGE
    assert "at least one of" in capsys.readouterr().err
    assert cli.main(["keys", "set", key_id, "--networks", "10.0.0.300/8", *args]) == 2
    assert "not an address or CIDR" in capsys.readouterr().err
    assert cli.main(["keys", "set", key_id, "--daily", "-3", *args]) == 2
    assert cli.main(["keys", "set", "key_nope", "--daily", "3", *args]) == cli.EXIT_NOT_FOUND


def test_keys_set_is_audited(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(config_path)]
    assert cli.main(["init", *args]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["keys", "create", "--name", "portal", *args]) == cli.EXIT_OK
    key_id, _ = created_key(capsys.readouterr().out)
    assert cli.main(["keys", "set", key_id, "--daily", "10", *args]) == cli.EXIT_OK
    assert cli.main(["audit", "verify", *args]) == cli.EXIT_OK
    assert "chain intact" in capsys.readouterr().out
    entries = asyncio.run(audit_entries(config_path))
    [change] = [e for e in entries if e.action == "key.limits"]
    assert change.subject == key_id
    assert change.detail["messages_per_day"] == 10


async def audit_entries(config: Path) -> list[AuditEntry]:
    cfg = load_config(config).store
    store = create_store(cfg, KeyRing.load(cfg.key_file))
    await store.open()
    try:
        return (await store.list_audit(cursor=None, limit=100)).items
    finally:
        await store.close()
