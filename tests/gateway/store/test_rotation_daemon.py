"""Key rotation with a real daemon: the data dir lock, and ``smsgw rotate-key`` (a real
process) while the daemon accepts and sends through a simulated modem on a pty."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from drivers.simulator import SimulatedModem
from gateway.cli import main as cli
from gateway.config import Config, ServerConfig, StoreConfig, load_config
from gateway.core.service import SendRequest
from gateway.crypto import KeyRing
from gateway.daemon import Daemon, RuntimeSettings, serve
from gateway.errors import DataDirInUse
from gateway.store import data_lock
from gateway.store.base import MessageState
from gateway.store.rotation import ROTATED_EVENT
from tests.gateway.runtime.conftest import fast_modem, poll_until
from tests.support import FAST_SUPERVISION

from .conftest import key_ids_in_use

REPO = Path(__file__).resolve().parents[3]
CLI_DEADLINE = 60.0  # seconds: the rotate-key process, interpreter start included
WATCH_INTERVAL = 0.05  # seconds: the daemon's key file poll, shrunk
SENT = (MessageState.SENT, MessageState.DELIVERED)
BULK = 300  # sealed events added before the rotation


def fast_settings(*, rotate_batch: int = 3) -> RuntimeSettings:
    return RuntimeSettings(
        supervision=FAST_SUPERVISION,
        serve_http=False,
        key_watch_interval=WATCH_INTERVAL,
        rotate_batch=rotate_batch,
    )


def modemless_config(root: Path) -> Config:
    data = root / "data"
    data.mkdir(mode=0o700, exist_ok=True)
    if not (data / "smsgw.key").exists():
        KeyRing.create(data / "smsgw.key")
    return Config(
        path=root / "smsgw.toml",
        server=ServerConfig(port=0, default_country="1"),
        store=StoreConfig(data_dir=data, key_file=data / "smsgw.key", retention_days=0),
        modems=(),
    )


@pytest.fixture
async def started() -> AsyncIterator[list[Daemon]]:
    daemons: list[Daemon] = []
    try:
        yield daemons
    finally:
        for daemon in daemons:
            await daemon.stop()


async def start(daemon: Daemon, started: list[Daemon]) -> Daemon:
    await daemon.start()
    started.append(daemon)
    return daemon


async def test_a_second_daemon_on_the_same_data_dir_is_refused(
    tmp_path: Path, started: list[Daemon]
) -> None:
    config = modemless_config(tmp_path)
    first = await start(Daemon(config, settings=fast_settings()), started)
    lock_file = config.store.data_dir / data_lock.LOCK_FILE_NAME
    assert stat.S_IMODE(lock_file.stat().st_mode) == 0o600
    assert data_lock.holder(config.store.data_dir) == f"daemon pid {os.getpid()}"

    second = Daemon(config, settings=fast_settings())
    with pytest.raises(DataDirInUse, match="in use by another smsgw process") as refused:
        await second.start()
    assert refused.value.code == "conflict"
    assert f"daemon pid {os.getpid()}" in refused.value.message
    assert cli.exit_code_for(refused.value) == cli.EXIT_ERROR
    with pytest.raises(DataDirInUse):  # `smsgw run` goes through serve()
        await serve(config, daemon=Daemon(config, settings=fast_settings()))

    # The first is untouched by the refusals and still accepts.
    [result] = await first.gateway.submit([SendRequest(to="+15551230000", body="still here")], None)
    assert result.created

    await first.stop()
    started.remove(first)
    assert data_lock.holder(config.store.data_dir) is None
    again = await start(Daemon(config, settings=fast_settings()), started)
    assert await again.store.get_message(result.message.id) is not None


async def test_the_daemon_finishes_a_rotation_left_unfinished(
    tmp_path: Path, started: list[Daemon]
) -> None:
    config = modemless_config(tmp_path)
    daemon = await start(Daemon(config, settings=fast_settings()), started)
    ids = [
        r.message.id
        for r in await daemon.gateway.submit(
            [SendRequest(to="+15551230000", body=f"queued {i}") for i in range(5)], None
        )
    ]
    await daemon.stop()
    started.remove(daemon)
    # A rotate-key that added its key but died before re-encrypting.
    old_id = KeyRing.load(config.store.key_file).current
    new_id = KeyRing.load(config.store.key_file).rotate(config.store.key_file)

    daemon = await start(Daemon(config, settings=fast_settings()), started)

    async def retired() -> bool:
        return KeyRing.load(config.store.key_file).key_ids == {new_id}

    await poll_until(retired, "the old key retired")
    assert daemon._keyring is not None
    assert old_id not in daemon._keyring.key_ids
    assert key_ids_in_use(config.store.database) == {new_id}
    for message_id in ids:
        message = await daemon.store.get_message(message_id)
        assert message is not None
        assert message.body.startswith("queued ")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimulatedModem]:
    (tmp_path / "dev").mkdir()
    modem = SimulatedModem(
        tmp_path / "dev" / "alpha", profile="quectel", radio_time=0.0, report_delay=0.02, seed=7
    )
    await modem.start()
    try:
        yield modem
    finally:
        await modem.stop()


async def test_rotate_key_while_the_daemon_accepts_and_sends(
    tmp_path: Path, sim: SimulatedModem, started: list[Daemon]
) -> None:
    path = tmp_path / "smsgw.toml"
    path.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {closed_port()}\n'
        '[store]\ndata_dir = "data"\ndurable = false\nretention_days = 0\n'
        f'[[modems]]\nname = "alpha"\nport = "{sim.path}"\nprofile = "quectel"\n'
        "[modems.rate]\nper_minute = 0\n"
    )
    (tmp_path / "data").mkdir(mode=0o700)
    config = load_config(path)
    key_file = config.store.key_file
    KeyRing.create(key_file)
    daemon = await start(
        Daemon(config, settings=fast_settings(rotate_batch=1), modem_factory=fast_modem), started
    )
    await poll_until(_async(lambda: daemon.handles["alpha"].usable()), "modem ready")
    sent: dict[str, str] = {}

    async def send(tag: str, count: int) -> None:
        requests = [SendRequest(to="+15551230000", body=f"{tag} {i}") for i in range(count)]
        for result in await daemon.gateway.submit(requests, None):
            sent[result.message.id] = result.message.body

    old_id = KeyRing.load(key_file).current
    await send("before", 20)
    # Bulk that needs no radio, so re-encryption (a value a batch) outlasts a few sends.
    await asyncio.gather(
        *(daemon.store.add_event("test.bulk", None, {"n": n}) for n in range(BULK))
    )

    keyring = daemon._keyring
    assert keyring is not None

    async def send_once_reloaded() -> None:
        # Polled tightly, so these land while the batches are still running.
        await poll_until(
            _async(lambda: keyring.current != old_id), "the daemon to reload", interval=0.001
        )
        await send("during-reencryption", 5)

    follower = asyncio.create_task(send_once_reloaded())
    rotate = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "rotate-key",
        "--config",
        str(path),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    await send("during", 5)  # while rotate-key starts: sealed with the old key
    out, err = await asyncio.wait_for(rotate.communicate(), CLI_DEADLINE)
    assert rotate.returncode == 0, err.decode()
    printed = out.decode()
    new_id = KeyRing.load(key_file).current
    assert new_id != old_id
    assert f"new key {new_id}" in printed
    assert "daemon is running" in printed
    assert ROTATED_EVENT in printed
    await follower
    await send("after-rotate-key", 5)

    async def old_key_retired() -> bool:
        return KeyRing.load(key_file).key_ids == {new_id}

    await poll_until(old_key_retired, "the old key retired from the key file")
    await send("after", 5)
    assert old_id not in keyring.key_ids

    async def all_sent() -> bool:
        for message_id in sent:
            message = await daemon.store.get_message(message_id)
            if message is None or message.state not in SENT:
                return False
        return True

    await poll_until(all_sent, "every message sent")
    for message_id, body in sent.items():
        message = await daemon.store.get_message(message_id)
        assert message is not None
        assert message.body == body
        assert message.to == "+15551230000"
    assert len(sim.sent) >= len(sent)
    assert key_ids_in_use(config.store.database) == {new_id}
    events = (await daemon.store.list_events(cursor=None, limit=100)).items
    rotated = [e for e in events if e.kind == ROTATED_EVENT]
    assert rotated
    assert rotated[0].detail["current"] == new_id
    assert rotated[0].detail["retired"] == [old_id]
    assert rotated[0].detail["reencrypted"] >= 20 + BULK
    bulk = [e for e in events if e.kind == "test.bulk"]
    assert bulk  # re-encrypted events still open, through the daemon's own store
    assert all(0 <= e.detail["n"] < BULK for e in bulk)


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def wrapped() -> bool:
        return check()

    return wrapped
