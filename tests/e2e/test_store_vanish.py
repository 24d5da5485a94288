"""The daemon notices when its database is deleted or damaged, and will not start over
on a fresh empty one unless told to."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

from tests.e2e.cli_proc import cli_ok, run_cli
from tests.e2e.conftest import Gateway
from tests.support import poll_until

NOTICE_WITHIN = 10.0  # seconds for the daemon to notice a deleted database
DETECTED_LOG = "store unhealthy: the database file was deleted or replaced"


def _message(i: int) -> dict[str, Any]:
    return {"to": f"+1555300{i:04d}", "body": f"vanish test {i}"}


def _zero_header(db_path: Path) -> None:
    with db_path.open("r+b") as fh:
        fh.write(b"\0" * 100)


def _drop_table(db_path: Path, table: str) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"DROP TABLE {table}")


def _exists(path: Path) -> bool:
    return path.exists()


def _delete_database(data_dir: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (data_dir / f"smsgw.db{suffix}").unlink(missing_ok=True)


async def test_a_database_deleted_under_the_daemon_stops_it_accepting(gateway: Gateway) -> None:
    status, body = await gateway.request("POST", "/v1/messages", json=_message(0))
    assert status == 202, body
    _delete_database(gateway.data_dir)

    async def not_ready() -> dict[str, Any] | None:
        status, body = await gateway.request("GET", "/readyz")
        return body if status == 503 else None

    body = await poll_until(not_ready, "/readyz to notice the deletion", NOTICE_WITHIN)
    assert "deleted or replaced" in body["error"]["message"]
    for i in range(1, 4):
        status, body = await gateway.request("POST", "/v1/messages", json=_message(i))
        assert status == 503, body
        assert body["error"]["code"] == "unavailable"
        assert "deleted or replaced" in body["error"]["message"]
    assert gateway.log().count(DETECTED_LOG) == 1, gateway.log()

    await gateway.stop()
    code, out = await run_cli(gateway.config_path, "run")
    assert code == 4, out
    assert "init --new-database" in out
    assert "Traceback" not in out
    assert not _exists(gateway.data_dir / "smsgw.db")

    out = await cli_ok(gateway.config_path, "init", "--new-database")
    gateway.token = out.split("store it safely):\n")[1].split()[0]
    await gateway.start()
    status, body = await gateway.request("POST", "/v1/messages", json=_message(9))
    assert status == 202, body


async def test_a_zeroed_database_header_refuses_to_start_with_exit_4(gateway: Gateway) -> None:
    await gateway.stop()
    _zero_header(gateway.data_dir / "smsgw.db")
    code, out = await run_cli(gateway.config_path, "run")
    assert code == 4, out
    assert "store_damaged" in out
    assert "Traceback" not in out


async def test_a_dropped_table_refuses_to_start_with_exit_4(gateway: Gateway) -> None:
    await gateway.stop()
    _drop_table(gateway.data_dir / "smsgw.db", "inbound")
    code, out = await run_cli(gateway.config_path, "run")
    assert code == 4, out
    assert "store_damaged" in out
    assert "inbound" in out
    assert "Traceback" not in out


async def test_an_open_data_directory_is_made_private(gateway: Gateway) -> None:
    await gateway.stop()
    os.chmod(gateway.data_dir, 0o755)  # noqa: S103 - the mistake the daemon must undo
    await gateway.start()
    assert stat.S_IMODE(os.stat(gateway.data_dir).st_mode) == 0o700
