"""Registration as the driver surfaces it: ``Modem.registration`` (best of CS, GPRS and EPS)
and a NetworkChanged event when it changes, from URCs and from health polls."""

from __future__ import annotations

from pathlib import Path

from drivers.modem import Modem
from drivers.types import NetworkChanged, Registration
from tests.drivers.conftest import WAIT, ScriptedPeer, fast_settings, next_event, ok
from tests.drivers.test_modem import ready, running


def current(modem: Modem) -> Registration:
    """Read through a call, so the type checker does not keep a narrowed property."""
    return modem.registration


async def network(modem: Modem) -> Registration | None:
    event = await next_event(modem, NetworkChanged)
    assert isinstance(event, NetworkChanged)
    return event.registration


async def test_lost_denied_and_back_as_urcs(sim_path: Path) -> None:
    async with running(sim_path) as (sim, modem):
        await ready(modem)
        assert modem.registration is Registration.HOME
        assert modem.registration.registered
        sim.lose_registration(searching=True)
        assert await network(modem) is Registration.SEARCHING
        sim.deny_registration()
        assert await network(modem) is Registration.DENIED
        assert current(modem) is Registration.DENIED
        assert not current(modem).registered
        sim.restore_registration(roaming=True)
        assert await network(modem) is Registration.ROAMING
        assert modem.registration.registered


async def test_a_health_poll_shows_a_change_the_urcs_did_not(sim_path: Path) -> None:
    async with running(sim_path, registration_urcs=False) as (sim, modem):
        await ready(modem)
        sim.lose_registration()
        assert modem.registration is Registration.HOME  # nothing said so yet
        health = await modem.health()
        assert health.registration is Registration.NOT_REGISTERED
        assert await network(modem) is Registration.NOT_REGISTERED
        assert current(modem) is Registration.NOT_REGISTERED


async def test_a_domain_alone_does_not_unregister_an_lte_modem(peer: ScriptedPeer) -> None:
    peer.on(r"AT\+CPIN\?", ok("+CPIN: READY"))
    peer.on(r"AT\+CREG\?", ok("+CREG: 2,2"))  # CS: searching (LTE only)
    peer.on(r"AT\+CEREG\?", ok('+CEREG: 2,1,"1A2B","00C3D4E5",7'))  # EPS: home
    modem = Modem(fast_settings(peer.path, sweep_interval=60.0))
    await modem.start()
    try:
        await modem.wait_ready(WAIT)
        assert modem.registration is Registration.HOME
        peer.send(b"\r\n+CREG: 0\r\n")  # CS alone: still registered through EPS
        peer.send(b"\r\n+CEREG: 3\r\n")  # EPS denied: now the best is "denied"
        assert await network(modem) is Registration.DENIED
    finally:
        await modem.stop()
