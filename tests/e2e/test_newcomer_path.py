"""The newcomer's path, as the README tells it: ``.venv/bin/smsgw demo`` from the
repository's root, then the commands it printed, pasted as they are into a shell whose
PATH does not hold the virtualenv: send, text in as a patient, see the inbound text
and its webhook."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.compat.sids import account_sid
from tests.gateway.config.test_cli import REPO, closed_port
from tests.gateway.integrations.conftest import Subscriber
from tests.support import poll_until

SMSGW = Path(sys.executable).parent / "smsgw"
BANNER_DEADLINE = 60.0  # seconds: interpreter start, init and key on a shared machine
COMMAND_DEADLINE = 60.0
PATIENT = "+15551234567"

pytestmark = pytest.mark.skipif(not SMSGW.is_file(), reason="no smsgw script beside python")


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    sub = Subscriber()
    await sub.start()
    try:
        yield sub
    finally:
        await sub.stop()


def _shell_env() -> dict[str, str]:
    """The newcomer's shell: the virtualenv is not on its PATH."""
    venv_bin = str(SMSGW.parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMSGW_", "VIRTUAL_ENV"))}
    return {**env, "PATH": path}


async def _paste(line: str, env: dict[str, str]) -> str:
    """Run one printed command line in a shell, from the repository's root."""
    bash = shutil.which("bash") or "/bin/sh"
    proc = await asyncio.create_subprocess_exec(
        bash, "-c", line, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(COMMAND_DEADLINE):
        out, _ = await proc.communicate()
    assert proc.returncode == 0, f"{line!r} exited {proc.returncode}: {out.decode()}"
    return out.decode()


async def _banner(proc: asyncio.subprocess.Process) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(BANNER_DEADLINE):
        while not lines or lines[-1] != "Stop with Ctrl-C.":
            raw = await proc.stdout.readline()
            assert raw, "the demo exited before its banner ended:\n" + "\n".join(lines)
            lines.append(raw.decode().rstrip())
    return lines


def _field(lines: list[str], label: str) -> str:
    return next(
        line.split(":", 1)[1].split()[0] for line in lines if line.strip().startswith(label)
    )


async def test_demo_then_text_in_then_see_it(tmp_path: Path, subscriber: Subscriber) -> None:
    config = tmp_path / "config" / "demo.toml"
    config.parent.mkdir()
    config.write_text(
        (REPO / "config" / "demo.toml").read_text()
        + f'\n[[webhooks]]\nname = "ehr"\nurl = "{subscriber.url}/events"\n'
        'events = ["inbound.received"]\nsecret = "newcomer-webhook-secret"\n'
    )
    port = closed_port()
    env = _shell_env()
    proc = await asyncio.create_subprocess_exec(
        ".venv/bin/smsgw", "demo", "--config", str(config), "--port", str(port),
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        lines = await _banner(proc)
        token = _field(lines, "API key:")
        key_id = _field(lines, "key id:")
        assert token.startswith(f"sgw_{key_id}_")
        assert _field(lines, "AccountSid:") == account_sid(key_id)

        commands = [line.strip() for line in lines if line.strip().startswith(".venv/bin/smsgw ")]
        send = next(c for c in commands if " send " in c)
        status = next(c for c in commands if " status " in c)
        text_in = next(c for c in commands if " simulate text " in c)
        shell = {**env, "SMSGW_API_KEY": token}  # the banner's `export` line
        assert (await _paste(send, shell)).startswith("msg_")
        await _paste(status, shell)
        assert "texted" in await _paste(text_in, env)

        async def inbound_seen() -> bool:
            url = f"http://127.0.0.1:{port}/v1/inbound"
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as r:
                items = (await r.json())["items"]
            return any(i["from"] == PATIENT and i["text"] == "C" for i in items)

        await poll_until(inbound_seen, "the patient's text in GET /v1/inbound", 30.0)
        [event] = await subscriber.wait_ok(1, within=30.0)
        assert b'"inbound.received"' in event.body
        assert b'"C"' in event.body
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(BANNER_DEADLINE):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0
