"""``.venv/bin/smsgw demo`` as a newcomer starts it: from the repository's root, in a
shell whose PATH does not hold the virtualenv, on a copy of config/demo.toml."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
SMSGW = Path(sys.executable).parent / "smsgw"
BANNER_DEADLINE = 60.0  # seconds: interpreter start, init and key on a shared machine
STOP_DEADLINE = 30.0


@dataclass(frozen=True)
class Demo:
    banner: list[str]
    url: str
    env: dict[str, str]  # the newcomer's shell

    def field(self, label: str) -> str:
        """The first word after ``label`` on the banner line that starts with it."""
        return next(
            line.split(":", 1)[1].split()[0]
            for line in self.banner
            if line.strip().startswith(label)
        )

    @property
    def token(self) -> str:
        return self.field("API key:")


def shell_env() -> dict[str, str]:
    venv_bin = str(SMSGW.parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMSGW_", "VIRTUAL_ENV"))}
    return {**env, "PATH": path}


async def _banner(proc: asyncio.subprocess.Process) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(BANNER_DEADLINE):
        while not lines or lines[-1] != "Stop with Ctrl-C.":
            raw = await proc.stdout.readline()
            assert raw, "the demo exited before its banner ended:\n" + "\n".join(lines)
            lines.append(raw.decode().rstrip())
    return lines


@asynccontextmanager
async def running_demo(root: Path, extra_config: str = "") -> AsyncIterator[Demo]:
    """The demo on a free port with its data under ``root``; SIGTERM at the end (exit 0)."""
    config = root / "config" / "demo.toml"
    config.parent.mkdir(parents=True)
    config.write_text((REPO / "config" / "demo.toml").read_text() + extra_config)
    port = free_port()
    env = shell_env()
    proc = await asyncio.create_subprocess_exec(
        ".venv/bin/smsgw", "demo", "--config", str(config), "--port", str(port),
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield Demo(await _banner(proc), f"http://127.0.0.1:{port}", env)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_DEADLINE):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0
