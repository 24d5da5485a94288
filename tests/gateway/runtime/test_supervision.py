"""How the daemon is put together: modems run by their supervisors, starts paired with
stops, simulators left to the command line, escalation left to the driver."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from drivers.types import ModemState
from gateway.config import Config, ModemConfig, RouteConfig, ServerConfig, StoreConfig
from gateway.crypto import KeyRing
from gateway.daemon import Daemon, RuntimeSettings
from gateway.errors import ConfigError, Unavailable
from gateway.store.base import MessageState
from gateway.store.data_lock import DataDirLock
from tests.gateway.runtime.conftest import RigFactory, fast_modem, poll_until

REPO = Path(__file__).resolve().parents[3]


def test_the_daemon_does_not_load_the_simulator() -> None:
    code = "import sys, gateway.daemon; print(sorted(m for m in sys.modules if 'simulator' in m))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


async def test_a_sim_fault_holds_the_modem_out_and_leaves_recovery_to_the_driver(
    make_rig: RigFactory,
) -> None:
    route = RouteConfig(name="first", modems=("alpha",), fallback=True)
    rig = await make_rig(
        (("alpha", "quectel"), ("bravo", "generic")), routes=[route], fault_hold=0.3
    )
    alpha = rig.daemon.handles["alpha"]
    sim = rig.sims["alpha"]
    sim.fail_sends(50, count=1)  # no SMS subscription: a SIM fault
    m = await rig.send("+15551230030", "via the healthy one")
    done = await rig.wait_state(m.id, MessageState.DELIVERED, MessageState.SENT)
    assert done.modem == "bravo"
    assert alpha.hold_reason == "fault: cms_50"

    async def back() -> bool:
        return alpha.usable()

    await poll_until(back, "alpha back in rotation after its hold")
    # The hold is all the gateway does: the driver stayed up, nothing reset the modem.
    assert not [c for c in sim.commands if c.upper().startswith("AT+CFUN=1,1")]
    assert alpha.modem.state is ModemState.READY


def _config(tmp_path: Path, *modems: ModemConfig, port: int = 0) -> Config:
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    if not (data / "smsgw.key").exists():
        KeyRing.create(data / "smsgw.key")
    return Config(
        path=tmp_path / "smsgw.toml",
        server=ServerConfig(host="127.0.0.1", port=port),
        store=StoreConfig(data_dir=data, key_file=data / "smsgw.key", durable=False),
        modems=modems,
    )


async def test_a_simulated_modem_nobody_started_is_refused_and_the_start_unwinds(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, ModemConfig(name="sim1", simulate="generic"))
    daemon = Daemon(config, settings=RuntimeSettings(serve_http=False))
    with pytest.raises(ConfigError, match="smsgw run") as refused:
        await daemon.start()
    assert refused.value.field == "simulate"
    with pytest.raises(Unavailable):
        daemon.store  # noqa: B018 - closed again
    DataDirLock.acquire(config.store.data_dir, "test").release()  # and unlocked
    await daemon.stop()  # nothing left to stop


async def test_a_start_that_fails_late_stops_the_modems_it_started(
    make_rig: RigFactory, tmp_path: Path
) -> None:
    rig = await make_rig()  # only for its simulator on a pty
    sim = rig.sims["alpha"]
    await rig.daemon.stop()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        config = _config(
            tmp_path / "late",
            ModemConfig(name="alpha", port=str(sim.path), profile="quectel"),
            port=taken,
        )
        daemon = Daemon(config, modem_factory=fast_modem)
        with pytest.raises(OSError, match="address already in use"):
            await daemon.start()  # the HTTP API comes last: its port is taken
    handle = daemon.handles["alpha"]
    assert handle.modem.state is ModemState.CLOSED  # started, then stopped again
    assert handle.stopping
    DataDirLock.acquire(config.store.data_dir, "test").release()
