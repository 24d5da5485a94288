"""API keys created and revoked by ``smsgw keys`` (another process) while the daemon runs:
effective within a second, whether the daemon is idle or busy; and the daemon's own
writes survive a crash after such a command."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from tests.e2e.cli_proc import cli_ok, create_key
from tests.e2e.conftest import Gateway
from tests.support import poll_until

EFFECTIVE_WITHIN = 1.0  # seconds, from the command's exit to the daemon's answer
IDLE_POLL = 0.25  # seconds between probes while "idle": a few requests, no load


async def status_with(gw: Gateway, token: str) -> int:
    status, _ = await gw.request(
        "GET", "/v1/messages", params={"limit": "1"}, headers={"Authorization": f"Bearer {token}"}
    )
    return status


async def becomes(gw: Gateway, token: str, wanted: int, *, interval: float) -> float:
    """Seconds until requests with ``token`` are answered ``wanted`` (fails past 1 s)."""
    started = time.monotonic()

    async def answered() -> bool:
        return await status_with(gw, token) == wanted

    await poll_until(answered, f"HTTP {wanted} for the key", EFFECTIVE_WITHIN, interval=interval)
    return time.monotonic() - started


@contextlib.asynccontextmanager
async def busy(gw: Gateway, token: str) -> AsyncIterator[None]:
    """Requests with ``token`` back to back, the whole time inside."""

    async def hammer() -> None:
        while True:
            await status_with(gw, token)

    task = asyncio.create_task(hammer())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_an_idle_daemon_honours_cli_key_changes_within_a_second(gateway: Gateway) -> None:
    # The daemon has read the database before (startup, one request) and is then idle.
    assert await status_with(gateway, gateway.token) == 200
    key_id, token = await create_key(gateway.config_path, "read")
    await becomes(gateway, token, 200, interval=IDLE_POLL)
    await cli_ok(gateway.config_path, "keys", "revoke", key_id)
    await becomes(gateway, token, 401, interval=IDLE_POLL)
    # A second key, made after the first change: the daemon's view keeps following.
    _, second = await create_key(gateway.config_path, "read")
    await becomes(gateway, second, 200, interval=IDLE_POLL)


async def test_a_busy_daemon_honours_a_cli_revocation_within_a_second(gateway: Gateway) -> None:
    key_id, token = await create_key(gateway.config_path, "read")
    await becomes(gateway, token, 200, interval=IDLE_POLL)
    async with busy(gateway, token):
        await cli_ok(gateway.config_path, "keys", "revoke", key_id)
        await becomes(gateway, token, 401, interval=0.0)


@pytest.mark.parametrize("command", [("keys", "list"), ("audit", "verify")])
async def test_what_the_daemon_accepts_after_a_cli_command_survives_kill_9(
    gateway: Gateway, command: tuple[str, ...]
) -> None:
    """A CLI process closing its connection must not take the daemon's log with it."""
    await cli_ok(gateway.config_path, *command)
    status, msg = await gateway.request(
        "POST", "/v1/messages", json={"to": "+15551230000", "body": "after the CLI"}
    )
    assert status == 202, msg
    await gateway.kill()
    await gateway.start()
    status, found = await gateway.request("GET", f"/v1/messages/{msg['id']}")
    assert status == 200, found
