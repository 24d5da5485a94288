"""``smsgw backup`` while the daemon accepts messages, and ``smsgw restore`` into a fresh
data directory that a daemon then starts on and reads from."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from tests.gateway.ops.daemon_proc import RunningDaemon, initialise, running_daemon, smsgw
from tests.gateway.store.conftest import file_mode
from tests.support import poll_until

BODY = "Your MRI is booked for Monday 08:15, bring your referral"
NUMBER = "+15557654321"
TAG = "appointment-88123"
MODEMS: dict[str, dict[str, Any]] = {"front-desk": {"profile": "quectel"}}
EXIT_KEY = 4
EXIT_ERROR = 1
LOAD_TIMEOUT = 30.0  # seconds for the load to get going


async def _post(daemon: RunningDaemon, body: str) -> str:
    headers = {"Authorization": f"Bearer {daemon.token}"}
    message = {"to": NUMBER, "body": body, "tags": [TAG]}
    async with daemon.session.post(
        daemon.url + "/v1/messages", json=message, headers=headers
    ) as response:
        assert response.status == 202, await response.text()
        return str((await response.json())["id"])


async def _run(config: Path, *command: str) -> tuple[int, str]:
    proc = await smsgw(config, *command)
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_backup_under_load_then_restore_and_read(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    accepted: list[str] = []
    async with running_daemon(tmp_path / "live", MODEMS) as daemon:
        first = await _post(daemon, BODY)
        stop = asyncio.Event()

        async def load() -> None:
            while not stop.is_set():
                accepted.append(await _post(daemon, f"load {len(accepted)}"))

        loader = asyncio.create_task(load())
        await poll_until(lambda: _true(len(accepted) > 5), "the load to start", LOAD_TIMEOUT)
        before = len(accepted)
        code, out = await _run(daemon_config(tmp_path / "live"), "backup", "--to", str(backups))
        during = len(accepted) - before
        stop.set()
        await loader
        assert code == 0, out
        assert during > 0  # the daemon kept accepting while the backup ran
        # Refused while the daemon runs: nothing is replaced under it.
        live_db = tmp_path / "live" / "data" / "smsgw.db"
        code, out = await _run(daemon_config(tmp_path / "live"), "restore", "--from", str(live_db))
        assert code == EXIT_ERROR, out
        assert "in use" in out

    (backup,) = backups.iterdir()
    assert backup.suffix == ".db"
    assert file_mode(backup) == 0o600
    raw = backup.read_bytes()
    assert BODY.encode() not in raw  # still encrypted
    assert TAG.encode() not in raw
    check = sqlite3.connect(backup)
    try:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (count,) = check.execute("SELECT count(*) FROM messages").fetchone()
    finally:
        check.close()
    assert count >= before + 1  # every message accepted before the backup began

    restored = tmp_path / "restored"

    async def restore(config: Path) -> str:
        data = restored / "data"
        data.mkdir(mode=0o700)
        shutil.copy2(tmp_path / "live" / "data" / "smsgw.key", data / "smsgw.key")
        code, out = await _run(config, "restore", "--from", str(backup))
        assert code == 0, out
        return daemon.token  # the API keys come back with the database

    async with running_daemon(restored, MODEMS, setup=restore) as again:
        message = await again.get_json(f"/v1/messages/{first}")
        assert message["body"] == BODY
        assert message["tags"] == [TAG]
        listed = await again.get_json(f"/v1/messages?tag={TAG}&limit=500")
        assert first in {m["id"] for m in listed["items"]}


async def test_restore_refuses_a_backup_the_key_file_does_not_open(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    async with running_daemon(tmp_path / "live", MODEMS) as daemon:
        await _post(daemon, BODY)
        code, out = await _run(daemon_config(tmp_path / "live"), "backup", "--to", str(backups))
        assert code == 0, out
        # Never into the data directory, where the key file lives.
        inside = tmp_path / "live" / "data" / "copies"
        code, out = await _run(daemon_config(tmp_path / "live"), "backup", "--to", str(inside))
        assert code != 0, out
        assert not inside.exists()
    (backup,) = backups.iterdir()

    other = tmp_path / "other"
    other.mkdir()
    config = other / "smsgw.toml"
    config.write_text(
        daemon_config(tmp_path / "live")
        .read_text()
        .replace(str(tmp_path / "live" / "data"), str(other / "data"))
    )
    await initialise(config)  # its own key and database
    database = other / "data" / "smsgw.db"
    untouched = _digest(database)
    code, out = await _run(config, "restore", "--from", str(backup))
    assert code == EXIT_KEY, out
    assert "key" in out
    assert _digest(database) == untouched
    assert sorted(p.name for p in (other / "data").iterdir() if "restor" in p.name) == []

    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\x07" * 8192)
    code, out = await _run(config, "restore", "--from", str(damaged))
    assert code == EXIT_KEY, out
    assert _digest(database) == untouched


def daemon_config(root: Path) -> Path:
    return root / "smsgw.toml"


async def _true(value: bool) -> bool:
    return value
