"""Key rotation killed (kill -9) at every phase: the daemon starts again from the state it
left, reads what it held, finishes the rotation, and the CLI's key-file commands work
throughout."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.e2e.cli_proc import cli_ok, create_key
from tests.e2e.conftest import Gateway
from tests.e2e.crash_during_rotation import ENV, PHASES
from tests.support import poll_until

CRASH_DEADLINE = 30.0  # seconds for the daemon to reach the phase (key watch: every 2 s)
FINISH_DEADLINE = 30.0  # seconds for the restarted daemon to retire the old key


def key_file_ids(gw: Gateway) -> tuple[str, set[str]]:
    document = json.loads((gw.data_dir / "smsgw.key").read_text())
    return document["current"], set(document["keys"])


async def check_cli(gw: Gateway) -> None:
    listed = await cli_ok(gw.config_path, "keys", "list")
    assert "e2e-cli" in listed
    verified = await cli_ok(gw.config_path, "audit", "verify")
    assert "chain intact" in verified


@pytest.mark.parametrize("phase", PHASES)
async def test_a_rotation_killed_at_each_phase_restarts_and_finishes(
    gateway: Gateway, phase: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = {}
    for i in range(5):
        body = f"before the rotation {i}"
        status, msg = await gateway.request(
            "POST", "/v1/messages", json={"to": f"+1555100{i:04d}", "body": body}
        )
        assert status == 202, msg
        bodies[msg["id"]] = body
    await create_key(gateway.config_path, "read")  # an audit entry under the old key
    old, _ = key_file_ids(gateway)

    await gateway.stop()
    monkeypatch.setenv(ENV, phase)
    await gateway.start(module="tests.e2e.crash_during_rotation")
    monkeypatch.delenv(ENV)
    await check_cli(gateway)  # as a technician would, beside the running daemon
    await cli_ok(gateway.config_path, "rotate-key")
    new, _ = key_file_ids(gateway)
    assert new != old
    assert gateway.proc is not None
    async with asyncio.timeout(CRASH_DEADLINE):
        code = await gateway.proc.wait()
    assert code == -9, gateway.log()

    # Whatever the phase, the host-side commands open the database with the key file.
    await check_cli(gateway)
    await gateway.start()
    for message_id, body in bodies.items():
        status, found = await gateway.request("GET", f"/v1/messages/{message_id}")
        assert status == 200, found
        assert found["body"] == body

    async def retired() -> bool:
        return key_file_ids(gateway) == (new, {new})

    await poll_until(retired, "the old key to be retired", FINISH_DEADLINE)
    await check_cli(gateway)
    status, found = await gateway.request("GET", f"/v1/messages/{next(iter(bodies))}")
    assert status == 200, found
