"""The ``smsgw`` command line: exit codes, files it creates, and its HTTP client."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import io
import signal
import socket
import stat
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.cli import client as cli_client
from gateway.cli import main as cli
from gateway.config import Config, load_config
from gateway.crypto import KeyRing
from gateway.errors import GatewayError, Unavailable
from gateway.store.compat import callback_secret

REPO = Path(__file__).resolve().parents[3]
HAVE_STORE = importlib.util.find_spec("gateway.store.sqlite") is not None
needs_store = pytest.mark.skipif(
    not HAVE_STORE, reason="gateway.store.sqlite (the SQLite store) is not in this tree yet"
)

CONFIG = """
[store]
data_dir = "data"
durable = false

[[modems]]
name = "m1"
simulate = "generic"
"""

SUBCOMMANDS = [
    ["init"],
    ["run"],
    ["demo"],
    ["send"],
    ["status"],
    ["modems"],
    ["keys"],
    ["keys", "create"],
    ["keys", "list"],
    ["keys", "revoke"],
    ["keys", "callback-secret"],
    ["keys", "set"],
    ["rotate-key"],
]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def closed_port_url() -> str:
    return f"http://127.0.0.1:{closed_port()}"


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "smsgw.toml"
    path.write_text(f"[server]\nport = {closed_port()}\n" + CONFIG)
    return path


@pytest.mark.parametrize("argv", [[], *SUBCOMMANDS], ids=lambda a: " ".join(a) or "smsgw")
def test_help_exits_zero(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*argv, "--help"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "usage: smsgw" in out
    assert "exit codes" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == cli.EXIT_USAGE
    assert cli.main(["frobnicate"]) == cli.EXIT_USAGE
    assert cli.main(["send", "--to", "+15551234567"]) == cli.EXIT_USAGE
    assert cli.main(["keys"]) == cli.EXIT_USAGE
    assert "required" in capsys.readouterr().err


def test_invalid_config_exits_3_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(CONFIG + "colour = 1\n")
    for command in (["init"], ["run"], ["keys", "list"], ["rotate-key"]):
        assert cli.main([*command, "--config", str(path)]) == cli.EXIT_CONFIG
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert "modems[0].colour: unknown key" in err
        assert "Traceback" not in err
    assert cli.main(["init", "--config", str(tmp_path / "absent.toml")]) == cli.EXIT_CONFIG


def test_a_config_that_is_not_utf8_exits_3_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(CONFIG.encode() + "# Cl\xednica\n".encode("latin-1"))
    assert cli.main(["init", "--config", str(path)]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "UTF-8" in err
    assert "Traceback" not in err


def test_api_commands_exit_5_when_the_daemon_is_unreachable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = closed_port_url()
    assert cli.main(["status", "--url", url]) == cli.EXIT_UNREACHABLE
    assert cli.main(["modems", "--url", url]) == cli.EXIT_UNREACHABLE
    assert cli.main(["send", "--url", url, "--to", "+15551234567", "--body", "x"]) == 5
    err = capsys.readouterr().err
    assert "cannot reach the gateway" in err
    assert "Traceback" not in err


def test_simulate_delegates_or_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["simulate", "--help"])
    if importlib.util.find_spec("drivers.simulator.cli") is None:
        assert code == cli.EXIT_ERROR
        assert "simulator" in capsys.readouterr().err
    else:
        assert code == cli.EXIT_OK


# host-side admin commands --------------------------------------------------------


@needs_store
def test_init_creates_private_files_and_refuses_to_overwrite(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["init", "--config", str(config_path)]) == cli.EXIT_OK
    out = capsys.readouterr().out
    data = config_path.parent / "data"
    assert mode(data) == 0o700
    assert mode(data / "smsgw.key") == 0o600
    assert mode(data / "smsgw.db") == 0o600
    for extra in data.glob("smsgw.db-*"):
        assert mode(extra) & 0o077 == 0, extra.name
    token = out.strip().splitlines()[-1]
    assert len(token) >= 20

    key_before = (data / "smsgw.key").read_bytes()
    assert cli.main(["init", "--config", str(config_path)]) == cli.EXIT_KEY
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (data / "smsgw.key").read_bytes() == key_before


@needs_store
def test_keys_round_trip(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(config_path)]
    assert cli.main(["init", *args]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["keys", "create", "--name", "ehr", "--scopes", "send,read", *args]) == 0
    created = capsys.readouterr().out
    key_id = created.split()[3]
    token = created.strip().splitlines()[-1]

    assert cli.main(["keys", "list", *args]) == cli.EXIT_OK
    listing = capsys.readouterr().out
    line = next(row for row in listing.splitlines() if row.startswith(key_id))
    assert "ehr" in line
    assert "read,send" in line
    assert "active" in line
    assert token not in listing

    assert cli.main(["keys", "revoke", key_id, *args]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["keys", "list", *args]) == cli.EXIT_OK
    line = next(row for row in capsys.readouterr().out.splitlines() if row.startswith(key_id))
    assert "revoked" in line

    assert cli.main(["keys", "revoke", "key_nope", *args]) == cli.EXIT_NOT_FOUND
    assert cli.main(["keys", "create", "--name", "x", "--scopes", "root", *args]) == 2
    assert "unknown scope" in capsys.readouterr().err


@needs_store
def test_a_key_is_created_with_a_default_category(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(config_path)]
    assert cli.main(["init", *args]) == cli.EXIT_OK
    capsys.readouterr()
    create = ["keys", "create", "--name", "recall", "--category", "reminder", *args]
    assert cli.main(create) == cli.EXIT_OK
    created = capsys.readouterr().out
    assert "category reminder" in created
    key_id = created.split()[3]
    assert cli.main(["keys", "list", *args]) == cli.EXIT_OK
    line = next(r for r in capsys.readouterr().out.splitlines() if r.startswith(key_id))
    assert "reminder" in line
    unknown = ["keys", "create", "--name", "x", "--category", "promotions", *args]
    assert cli.main(unknown) == 2
    assert "unknown category 'promotions'" in capsys.readouterr().err


@needs_store
def test_keys_callback_secret_prints_what_callbacks_are_signed_with(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(config_path)]
    assert cli.main(["init", *args]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["keys", "create", "--name", "ehr", *args]) == cli.EXIT_OK
    created = capsys.readouterr().out
    key_id = created.split()[3]
    token = created.strip().splitlines()[-1]
    assert cli.main(["keys", "callback-secret", key_id, *args]) == cli.EXIT_OK
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("cbs_")
    assert secret != token
    keyring = KeyRing.load(load_config(config_path).store.key_file)
    assert secret == callback_secret(keyring, key_id)
    assert cli.main(["keys", "callback-secret", "key_nope", *args]) == cli.EXIT_NOT_FOUND


@needs_store
def test_keys_need_the_key_file(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["keys", "list", "--config", str(config_path)]) == cli.EXIT_KEY
    assert "key file" in capsys.readouterr().err


@needs_store
def test_rotate_key_keeps_keys_usable(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(config_path)]
    assert cli.main(["init", *args]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["keys", "create", "--name", "ehr", *args]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main(["rotate-key", *args]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "new key" in out
    assert "done:" in out
    key_file = config_path.parent / "data" / "smsgw.key"
    assert mode(key_file) == 0o600
    ring = KeyRing.load(key_file)
    assert len(ring.key_ids) == 1  # no daemon: re-encrypted here, the old key retired
    assert ring.current in out
    assert "retired old key" in out
    assert cli.main(["keys", "list", *args]) == cli.EXIT_OK
    assert "ehr" in capsys.readouterr().out


@needs_store
def test_the_demo_finds_its_own_config_without_being_told() -> None:
    """``smsgw demo`` with no --config, as the README runs it, reads the repo's demo.toml."""
    assert cli.DEMO_CONFIG == REPO / "config" / "demo.toml"
    assert cli.DEMO_CONFIG.is_file()


def test_demo_initialises_once_and_reuses_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config" / "demo.toml"
    config.parent.mkdir()
    config.write_text((REPO / "config" / "demo.toml").read_text())
    ran: list[Config] = []

    def fake_run(cfg: Config, on_started: Callable[[], None] | None = None) -> int:
        ran.append(cfg)
        if on_started is not None:
            on_started()  # as the daemon does once its API listens
        return 0

    monkeypatch.setattr(cli, "run_daemon", fake_run)
    port = closed_port()
    assert cli.main(["demo", "--config", str(config), "--port", str(port)]) == cli.EXIT_OK
    first = capsys.readouterr().out
    key_file = tmp_path / "demo-data" / "demo-api-key"
    token = key_file.read_text().strip()
    assert mode(key_file) == 0o600
    assert token in first
    assert f"http://127.0.0.1:{port}" in first
    assert first.count("curl ") == 2
    assert ran[0].server.port == port

    other = closed_port()
    assert cli.main(["demo", "--config", str(config), "--port", str(other)]) == cli.EXIT_OK
    second = capsys.readouterr().out
    assert token in second
    assert "initialised" not in second
    assert ran[1].server.port == other

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        assert cli.main(["demo", "--config", str(config), "--port", str(busy)]) == 1
    assert "already in use" in capsys.readouterr().err
    assert len(ran) == 2


def test_run_hands_the_config_to_the_daemon(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Config] = []
    devices_seen: list[Any] = []

    class FakeDaemon:
        @staticmethod
        def run(cfg: Config, *, devices: Any = None, on_started: Any = None) -> int:
            seen.append(cfg)
            devices_seen.append(devices)
            return 7

    real_import = importlib.import_module

    def fake_import(name: str) -> Any:
        return FakeDaemon if name == "gateway.daemon" else real_import(name)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    monkeypatch.setattr(cli, "setup_logging", lambda level, fmt: None)
    assert cli.main(["run", "--config", str(config_path), "--log-format", "json"]) == 7
    assert seen[0].logging.format == "json"
    assert seen[0].modems[0].name == "m1"
    # m1 is simulated: the command line, not the daemon, starts its simulator.
    from gateway.cli.simulators import simulated_modems

    assert devices_seen == [simulated_modems]


# HTTP client against a real server on loopback ------------------------------------


@dataclass
class FakeApi:
    url: str
    seen: list[web.Request]
    state: dict[str, bool]


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeApi]:
    seen: list[web.Request] = []
    state = {"ready": True}

    async def post_message(request: web.Request) -> web.Response:
        seen.append(request)
        body = await request.json()
        if request.headers.get("Authorization") != "Bearer good":
            return web.json_response(
                {"error": {"code": "unauthorized", "message": "bad key"}}, status=401
            )
        if body["to"] == "nope":
            return web.json_response(
                {"error": {"code": "invalid_number", "message": "not a number", "field": "to"}},
                status=400,
            )
        return web.json_response({"id": "msg_1", "state": "queued", "to": body["to"]}, status=202)

    async def get_modems(request: web.Request) -> web.Response:
        seen.append(request)
        modems = [
            {
                "name": "m1",
                "state": "ready",
                "sent_total": 3,
                "failed_total": 0,
                "health": {"signal_dbm": -71, "operator": "SimNet"},
            },
            {"name": "m2", "state": "down", "reason": "unplugged"},
        ]
        return web.json_response({"modems": modems})

    async def readyz(request: web.Request) -> web.Response:
        status = 200 if state["ready"] else 503
        return web.json_response({"status": "?"}, status=status)

    async def metrics(request: web.Request) -> web.Response:
        text = (
            "# HELP smsgw_queue_depth Messages waiting to be sent, by priority.\n"
            "# TYPE smsgw_queue_depth gauge\n"
            'smsgw_queue_depth{priority="normal"} 4.0\n'
            'smsgw_queue_depth{priority="urgent"} 1.0\n'
            "smsgw_queue_oldest_age_seconds 3.5\n"
        )
        return web.Response(text=text)

    app = web.Application()
    app.router.add_post("/v1/messages", post_message)
    app.router.add_get("/v1/modems", get_modems)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield FakeApi(f"http://127.0.0.1:{port}", seen, state)
    finally:
        await runner.cleanup()


async def test_send_posts_json_with_the_key(fake_api: FakeApi) -> None:
    url, seen = fake_api.url, fake_api.seen
    out = io.StringIO()
    await cli_client.send(
        cli_client.ApiClient(url, "good"), out, to="+15551234567", body="hi", priority="urgent"
    )
    assert out.getvalue() == "msg_1\tqueued\n"
    assert seen[0].headers["Authorization"] == "Bearer good"


@pytest.mark.parametrize(
    ("key", "to", "code", "text"),
    [("bad", "+15551234567", cli.EXIT_KEY, "unauthorized"), ("good", "nope", 2, "field to")],
)
async def test_api_errors_map_to_exit_codes(
    fake_api: FakeApi, key: str, to: str, code: int, text: str
) -> None:
    url = fake_api.url
    with pytest.raises(GatewayError) as info:
        await cli_client.send(
            cli_client.ApiClient(url, key), io.StringIO(), to=to, body="x", priority=None
        )
    assert cli.exit_code_for(info.value) == code
    assert text in info.value.message


async def test_status_prints_modems_and_readiness(
    fake_api: FakeApi,
) -> None:
    url = fake_api.url
    out = io.StringIO()
    ready = await cli_client.status(cli_client.ApiClient(url, "good"), out)
    assert ready is True
    lines = out.getvalue().splitlines()
    assert lines[0].split() == list(cli_client._MODEM_COLUMNS)
    assert lines[1].split()[:7] == ["m1", "ready", "-", "-71", "SimNet", "3", "0"]
    assert "unplugged" in lines[2]
    assert "queued: 5 (normal 4, urgent 1)" in out.getvalue()
    assert "ready: yes" in out.getvalue()


async def test_status_reports_not_ready(fake_api: FakeApi) -> None:
    fake_api.state["ready"] = False
    out = io.StringIO()
    assert await cli_client.status(cli_client.ApiClient(fake_api.url, "good"), out) is False
    assert "ready: no" in out.getvalue()


# the real daemon, as a user starts it ----------------------------------------------

HAVE_DAEMON = importlib.util.find_spec("gateway.daemon") is not None
DAEMON_START_SECONDS = 20.0


@pytest.mark.skipif(not HAVE_DAEMON, reason="gateway.daemon is not in this tree yet")
async def test_demo_runs_the_daemon_until_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "config" / "demo.toml"
    config.parent.mkdir()
    config.write_text((REPO / "config" / "demo.toml").read_text())
    port = closed_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "demo", "--config", str(config), "--port", str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        token = await _wait_for_token(proc)
        client = cli_client.ApiClient(f"http://127.0.0.1:{port}", token)
        deadline = time.monotonic() + DAEMON_START_SECONDS
        while True:
            try:
                await client.request("GET", "/readyz")
                break
            except Unavailable:
                assert time.monotonic() < deadline, "the demo never became ready"
                await asyncio.sleep(0.05)
        out = io.StringIO()
        await cli_client.send(client, out, to="+15557654321", body="hello", priority=None)
        assert out.getvalue().startswith("msg_")
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(DAEMON_START_SECONDS):
            rest, _ = await proc.communicate()
        assert proc.returncode == 0, rest.decode(errors="replace")
        assert b"5557654321" not in rest
        assert b"hello" not in rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _wait_for_token(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    async with asyncio.timeout(DAEMON_START_SECONDS):
        while True:
            line = (await proc.stdout.readline()).decode()
            assert line, "the demo exited before printing its key"
            if line.strip().startswith("API key:"):
                return line.split(":", 1)[1].strip()


@needs_store
def test_uncreatable_data_dir_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("not a directory")
    path = tmp_path / "smsgw.toml"
    path.write_text(CONFIG.replace('data_dir = "data"', 'data_dir = "file/data"'))
    assert cli.main(["init", "--config", str(path)]) == cli.EXIT_KEY
    err = capsys.readouterr().err
    assert "cannot create data_dir" in err
    assert err.count("\n") == 1


@needs_store
def test_keys_create_takes_the_read_all_scope(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(config_path)]
    assert cli.main(["init", *args]) == cli.EXIT_OK
    assert cli.main(["keys", "create", "--name", "staff", "--scopes", "read_all", *args]) == 0
    assert "staff: read_all" in capsys.readouterr().out
