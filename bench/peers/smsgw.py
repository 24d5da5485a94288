"""smsgw as a user runs it: ``smsgw init``, then ``smsgw run`` as its own process."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bench.idle_cpu import STARTUP_TIMEOUT, free_port, wait_ready
from bench.peers.contender import Text, spawn, stop_all

BATCH = 500  # texts per POST /v1/messages/batch


def write_config(root: Path, port: int, ports: Sequence[str]) -> Path:
    """Durable store (the default), delivery reports on (the default), no rate limit."""
    lines = [
        "[server]",
        'host = "127.0.0.1"',
        f"port = {port}",
        'default_country = "1"',
        "",
        "[store]",
        f'data_dir = "{root / "data"}"',
        "durable = true",
        "",
        "[logging]",
        'level = "warning"',
        "",
    ]
    for i, path in enumerate(ports):
        lines += [
            "[[modems]]",
            f'name = "m{i}"',
            f'port = "{path}"',
            "rate = { per_minute = 0 }",
            "",
        ]
    config = root / "smsgw.toml"
    config.write_text("\n".join(lines))
    return config


class Smsgw:
    name = "smsgw"

    def __init__(self, *, profile: Path | None = None) -> None:
        """``profile``: run the daemon under cProfile, its statistics written there at stop."""
        self._profile = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
        self._proc: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None
        self._url = ""
        self._token = ""
        self._modems = 0

    async def start(self, root: Path, ports: Sequence[str]) -> None:
        port = free_port()
        config = write_config(root, port, ports)
        init = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "init", "--config", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await init.communicate()
        if init.returncode != 0:
            raise RuntimeError(out.decode(errors="replace"))
        self._token = out.decode().strip().splitlines()[-1].strip()
        self._url = f"http://127.0.0.1:{port}"
        self._modems = len(ports)
        self._session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self._token}"})
        self._proc = await spawn(
            root / "smsgw.log", sys.executable, *self._profile,
            "-m", "gateway.cli", "run", "--config", str(config),
        )  # fmt: skip

    @property
    def url(self) -> str:
        return self._url

    @property
    def token(self) -> str:
        return self._token

    async def wait_ready(self) -> None:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            await wait_ready(self._url, self._token, self._modems)

    async def enqueue(self, texts: Sequence[Text]) -> None:
        assert self._session is not None
        for i in range(0, len(texts), BATCH):
            if len(texts) == 1:
                path, payload = "/v1/messages", _item(texts[0])
            else:
                path = "/v1/messages/batch"
                payload = {"messages": [_item(t) for t in texts[i : i + BATCH]]}
            async with self._session.post(self._url + path, json=payload) as response:
                if response.status not in (200, 202):
                    raise RuntimeError(f"{path}: {response.status} {await response.text()}")

    async def inbound_stored(self) -> int:
        assert self._session is not None
        count, cursor = 0, ""
        while True:
            params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
            async with self._session.get(self._url + "/v1/inbound", params=params) as response:
                response.raise_for_status()
                page = await response.json()
            count += len(page["items"])
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return count

    def pids(self) -> list[int]:
        return [] if self._proc is None else [self._proc.pid]

    async def stop(self) -> None:
        if self._proc is not None:
            await stop_all([self._proc])
        if self._session is not None:
            await self._session.close()


def _item(text: Text) -> dict[str, Any]:
    return {"to": text.to, "body": text.body}
