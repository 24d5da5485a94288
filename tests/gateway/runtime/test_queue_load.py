"""A restart at any queue size: the API listens, serves reads and takes sends while the
queue loads from the store in the background, and /readyz says so until it is in."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from gateway.config import Config, ServerConfig, StoreConfig
from gateway.crypto import KeyRing
from gateway.daemon import Daemon, RuntimeSettings
from gateway.store.base import Scope
from gateway.store.sqlite import SqliteStore
from tests.gateway.store.conftest import new_message
from tests.support import poll_until

QUEUED = 6_000
CHUNK = 10  # six hundred steps: the load is still running when start() returns
LOAD_WITHIN = 60.0  # seconds


async def _filled(config: Config, key: Path) -> str:
    """A store holding QUEUED queued messages; returns a sending key's token."""
    store = SqliteStore(config.store.database, KeyRing.load(key))
    await store.open()
    try:
        for _ in range(QUEUED // 1_000):
            await store.add_messages([new_message() for _ in range(1_000)])
        _, token = await store.create_api_key("t", frozenset({Scope.SEND, Scope.READ}))
    finally:
        await store.close()
    return token


async def test_the_api_answers_and_takes_sends_while_the_queue_loads(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    key = data / "smsgw.key"
    KeyRing.create(key)
    config = Config(
        path=tmp_path / "smsgw.toml",
        server=ServerConfig(host="127.0.0.1", port=0, default_country="1"),
        store=StoreConfig(data_dir=data, key_file=key, durable=False),
        modems=(),
    )
    token = await _filled(config, key)
    daemon = Daemon(config, settings=RuntimeSettings(queue_load_chunk=CHUNK))
    await daemon.start()
    try:
        scheduler = daemon.scheduler
        assert scheduler is not None
        assert scheduler.loading  # listening before the queue is in
        url, auth = daemon.api_url, {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=auth) as http:
            async with http.get(f"{url}/readyz") as response:
                assert response.status == 503
                assert "loading the queue" in (await response.json())["error"]["message"]
            sent = {"to": "+15550001111", "body": "accepted while the queue loads"}
            async with http.post(f"{url}/v1/messages", json=sent) as response:
                assert response.status == 202
                accepted = (await response.json())["id"]
            async with http.get(f"{url}/v1/messages?limit=1") as response:
                assert response.status == 200
                assert [m["id"] for m in (await response.json())["items"]] == [accepted]

            async def loaded() -> bool:
                return not scheduler.loading

            await poll_until(loaded, "the queue loaded", LOAD_WITHIN)
            async with http.get(f"{url}/readyz") as response:
                reason = (await response.json())["error"]["message"]
                assert "loading" not in reason, reason  # now: no modem is ready
        assert len(scheduler) == QUEUED + 1
        # First in, first out: the message accepted during the load comes after the others.
        scheduler.set_ready("m0", True)
        taken = [scheduler.take("m0") for _ in range(QUEUED + 1)]
        ids = [t.id for t in taken if t is not None]
        assert len(ids) == QUEUED + 1
        assert ids[-1] == accepted
        assert ids == sorted(ids)
    finally:
        await daemon.stop()
