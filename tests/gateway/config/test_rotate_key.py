"""``smsgw rotate-key``: re-encrypts itself when no daemon runs, hands over to a running
daemon otherwise (the data dir lock tells which), and never runs beside another."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from gateway.cli import admin as cli_admin
from gateway.cli import main as cli
from gateway.config import load_config
from gateway.crypto import KeyRing
from gateway.store import data_lock
from gateway.store.base import Message
from gateway.store.data_lock import DataDirLock
from tests.gateway.store.conftest import key_ids_in_use, new_message

CONFIG = """
[store]
data_dir = "data"
durable = false

[[modems]]
name = "m1"
simulate = "generic"
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "smsgw.toml"
    path.write_text(CONFIG)
    assert cli.main(["init", "--config", str(path)]) == cli.EXIT_OK
    return path


def add_messages(config_path: Path, count: int) -> list[str]:
    cfg = load_config(config_path).store

    async def add() -> list[str]:
        async with cli_admin.open_store(cfg) as store:
            results = await store.add_messages(
                [new_message(body=f"text {i}") for i in range(count)]
            )
            return [r.message.id for r in results]

    return asyncio.run(add())


def read_messages(config_path: Path, ids: list[str]) -> list[Message | None]:
    cfg = load_config(config_path).store

    async def read() -> list[Message | None]:
        async with cli_admin.open_store(cfg) as store:
            return [await store.get_message(i) for i in ids]

    return asyncio.run(read())


class HolderProbe(io.StringIO):
    """Output that notes who holds the data dir lock whenever a batch is reported."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.holders: list[str | None] = []

    def write(self, text: str) -> int:
        if "batch:" in text:
            self.holders.append(data_lock.holder(self.data_dir))
        return super().write(text)


def test_without_a_daemon_it_reencrypts_in_batches_and_retires_the_old_key(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = add_messages(config_path, 10)
    cfg = load_config(config_path).store
    old_id = KeyRing.load(cfg.key_file).current
    capsys.readouterr()
    monkeypatch.setattr(cli_admin, "ROTATE_BATCH", 3)

    assert cli.main(["rotate-key", "--config", str(config_path)]) == cli.EXIT_OK

    out = capsys.readouterr().out
    new_id = KeyRing.load(cfg.key_file).current
    assert new_id != old_id
    assert KeyRing.load(cfg.key_file).key_ids == {new_id}
    assert old_id not in cfg.key_file.read_text()
    assert f"retired old key(s) {old_id}" in out
    assert out.count("batch:") >= 4  # 10 messages, 3 a batch
    assert key_ids_in_use(cfg.database) == {new_id}
    found = read_messages(config_path, ids)
    assert [m.body if m else None for m in found] == [f"text {i}" for i in range(10)]
    assert data_lock.holder(cfg.data_dir) is None  # released


def test_it_holds_the_data_dir_lock_while_it_reencrypts(config_path: Path) -> None:
    add_messages(config_path, 4)
    cfg = load_config(config_path).store
    probe = HolderProbe(cfg.data_dir)
    result = asyncio.run(cli_admin.rotate(cfg, probe))
    assert result.daemon is None
    assert result.rewritten >= 4
    assert probe.holders
    assert all(h is not None and h.startswith("rotate-key pid") for h in probe.holders)


def test_with_a_daemon_running_it_only_adds_the_key_and_says_how_to_follow(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_messages(config_path, 3)
    cfg = load_config(config_path).store
    old_id = KeyRing.load(cfg.key_file).current
    capsys.readouterr()
    lock = DataDirLock.acquire(cfg.data_dir, "daemon")  # as a running daemon holds it
    try:
        assert cli.main(["rotate-key", "--config", str(config_path)]) == cli.EXIT_OK
    finally:
        lock.release()
    out = capsys.readouterr().out
    ring = KeyRing.load(cfg.key_file)
    assert ring.key_ids == {old_id, ring.current}  # the daemon retires the old one later
    assert "daemon is running" in out
    assert "key.rotated" in out
    assert "log" in out
    assert key_ids_in_use(cfg.database) == {old_id}  # left to the daemon


def test_refused_while_another_rotate_key_runs(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = load_config(config_path).store
    before = cfg.key_file.read_bytes()
    lock = DataDirLock.acquire(cfg.data_dir, "rotate-key")
    try:
        assert cli.main(["rotate-key", "--config", str(config_path)]) == cli.EXIT_ERROR
    finally:
        lock.release()
    err = capsys.readouterr().err
    assert "in use by another smsgw process (rotate-key pid" in err
    assert err.count("\n") == 1
    assert cfg.key_file.read_bytes() == before
