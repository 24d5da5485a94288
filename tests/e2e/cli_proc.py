"""The ``smsgw`` command line as a separate process, as a technician runs it beside a
running daemon (another process writing the same SQLite file)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

CLI_DEADLINE = 60.0  # seconds: interpreter start included, on a shared machine


async def run_cli(config_path: Path, *args: str) -> tuple[int, str]:
    """(exit code, stdout and stderr) of ``smsgw <args> --config <config_path>``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        *args,
        "--config",
        str(config_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(CLI_DEADLINE):
        out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def cli_ok(config_path: Path, *args: str) -> str:
    code, out = await run_cli(config_path, *args)
    assert code == 0, f"smsgw {' '.join(args)} exited {code}: {out}"
    return out


async def create_key(config_path: Path, scopes: str) -> tuple[str, str]:
    """(key id, token) of a new API key made by ``smsgw keys create``."""
    out = await cli_ok(config_path, "keys", "create", "--name", "e2e-cli", "--scopes", scopes)
    key_id = out.split("created API key ")[1].split()[0]
    token = out.split("(shown once):\n")[1].split()[0]
    return key_id, token
