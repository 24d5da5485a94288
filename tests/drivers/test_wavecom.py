"""Wavecom (and older Sierra) modules: +CPIN: READY with no OK, leading spaces in
identity answers, only SIM storage, +CME ERROR: 515 for a moment after AT+CFUN=1, +WIND."""

from __future__ import annotations

from pathlib import Path

from drivers import replies
from drivers.modem import Modem
from drivers.quirks import detect_profile
from drivers.types import InboundMessage, ModemState
from tests.drivers.conftest import WAIT, ScriptedPeer, fast_settings, next_event, ok
from tests.drivers.test_modem import OTHER, ready, running


def wavecom_peer(peer: ScriptedPeer) -> None:
    peer.on(r"AT\+CGMI", ok(" WAVECOM MODEM"))
    peer.on(r"AT\+CGMM", ok(" MULTIBAND  900E  1800"))
    peer.on(r"AT\+CPIN\?", b"\r\n+CPIN: READY\r\n")  # no OK follows
    peer.on(r"AT\+CPMS=\?", ok('+CPMS: (("SM","BM","SR"),("SM"))'))
    peer.on(r'AT\+CPMS="SM","SM","SM"', b"\r\nERROR\r\n")


async def test_auto_profile_reaches_ready_with_a_cpin_that_has_no_ok(peer: ScriptedPeer) -> None:
    wavecom_peer(peer)
    modem = Modem(fast_settings(peer.path, profile="auto", sweep_interval=60.0))
    await modem.start()
    try:
        await modem.wait_ready(WAIT)
        assert modem.profile.name == "wavecom"
        assert modem.stats.timeouts == 0
        commands = peer.commands
        assert commands.index("AT+CGMI") < commands.index("AT+CPIN?")
        assert 'AT+CPMS="SM","SM"' in commands  # two memories: no <mem3> on this firmware
        assert modem.identity is not None
        assert (modem.identity.manufacturer, modem.identity.model) == (
            "WAVECOM MODEM",
            "MULTIBAND  900E  1800",
        )
        assert (await modem.health()).sim == "ready"
    finally:
        await modem.stop()


def test_wavecom_is_detected_from_its_identity() -> None:
    assert detect_profile(" WAVECOM MODEM", " MULTIBAND  900E  1800").name == "wavecom"


async def test_simulated_wavecom_busy_after_cfun_and_wind_urcs(sim_path: Path) -> None:
    async with running(sim_path, sim_profile="wavecom", profile="auto") as (sim, modem):
        await ready(modem)
        assert modem.state is ModemState.READY
        assert modem.profile.name == "wavecom"
        cfun = sim.commands.index("AT+CFUN=1")
        assert cfun < sim.commands.index("AT+CPIN?")
        assert modem.identity is not None
        assert modem.identity.iccid == sim.iccid  # "CCID: " prefix gone
        assert modem.identity.imei == sim.imei
        assert sim.settings.mem1 == "SM"
        assert modem.stats.unknown_urcs == 0  # +WIND is a known URC
        sim.urc("+WIND: 7")
        sim.deliver(OTHER, "on the SIM")
        event = await next_event(modem, InboundMessage)
        assert isinstance(event, InboundMessage)
        assert event.location is not None
        assert event.location.memory == "SM"
        assert event.deliver.text == "on the SIM"
        assert modem.stats.unknown_urcs == 0


def test_iccid_without_its_prefix() -> None:
    digits = "8944110068213712345"
    for line in (
        f"+CCID: {digits}",
        f"CCID: {digits}",
        f'+CCID: "{digits}"',
        f"+ICCID: {digits}",
        f"^ICCID: {digits}",
        f"+QCCID: {digits}",
        digits,
        f"CCID:{digits}F",
    ):
        expected = digits + ("F" if line.endswith("F") else "")
        assert replies.iccid([line]) == expected, line
    assert replies.iccid(["ERROR"]) is None
