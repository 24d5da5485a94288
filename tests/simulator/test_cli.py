"""``python -m drivers.simulator``: modems up under DIR/simN until SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from drivers.simulator.cli import run_cli
from tests.simulator.conftest import RawClient, poll_until


async def test_run_cli_serves_until_sigterm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = asyncio.create_task(
        run_cli(
            [
                "--dir",
                str(tmp_path),
                "--count",
                "2",
                "--profile",
                "quectel",
                "--radio-time",
                "0",
                "--inbound-every",
                "0.02",
            ]
        )
    )
    links = [tmp_path / "sim0", tmp_path / "sim1"]
    await poll_until(lambda: all(p.is_symlink() for p in links) or task.done(), 2.0)
    client = RawClient(links[1])
    try:
        await client.expect(b"+QIND: SMS DONE\r\n")
        await client.expect(b'+CMTI: "ME",1\r\n', 1.0)  # the demo inbound text
    finally:
        client.close()
    os.kill(os.getpid(), signal.SIGTERM)
    async with asyncio.timeout(2.0):
        assert await task == 0
    assert not any(p.exists() for p in links)
    assert capsys.readouterr().out.split() == [str(p) for p in links]


async def test_run_cli_rejects_bad_count(tmp_path: Path) -> None:
    assert await run_cli(["--dir", str(tmp_path), "--count", "0"]) == 2
