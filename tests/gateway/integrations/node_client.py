"""The Node twilio client (tests/node, pinned by its package-lock.json), run as a child."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any, Final

import pytest

NODE_DIR: Final = Path(__file__).resolve().parents[2] / "node"
NODE: Final = shutil.which("node")
NPM: Final = shutil.which("npm")
RUN_TIMEOUT: Final = 60.0  # seconds for one run of the script
INSTALL_TIMEOUT: Final = 300.0  # seconds for `npm ci`

HAVE_NODE: Final = NODE is not None and NPM is not None
needs_node = pytest.mark.skipif(
    not HAVE_NODE, reason="node and npm (Debian: nodejs npm) are not installed"
)


async def _run(argv: list[str], env: dict[str, str], stdin: bytes, timeout: float) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=NODE_DIR,
        env={**os.environ, **env},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate(stdin)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode(errors="replace")
    return out


async def install() -> None:
    """``npm ci`` from the lock when the client is not installed yet (a cached copy is
    used first, so a machine that ran it once needs no network)."""
    if (NODE_DIR / "node_modules" / "twilio" / "package.json").is_file():
        return
    assert NPM is not None
    argv = [NPM, "ci", "--prefer-offline", "--no-audit", "--no-fund"]
    await _run(argv, {}, b"", INSTALL_TIMEOUT)


async def node_client(mode: str, env: dict[str, str], stdin: Any = None) -> Any:
    assert NODE is not None
    data = b"" if stdin is None else json.dumps(stdin).encode()
    out = await _run([NODE, "twilio_client.js", mode], env, data, RUN_TIMEOUT)
    return json.loads(out)
