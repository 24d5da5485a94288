"""Vendor and network paths: quirks no simulator profile models (driven by a scripted
peer), and routing that a late acknowledgement switches off."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from drivers.modem import Modem
from drivers.pdu import encode
from drivers.quirks import GENERIC
from drivers.types import InboundMessage, StatusReportReceived
from tests.drivers.conftest import WAIT, ScriptedPeer, fast_settings, next_event, until
from tests.drivers.test_modem import NUMBER, ready, running


async def test_health_reads_a_cpin_answer_that_has_no_ok(peer: ScriptedPeer) -> None:
    peer.on(r"AT\+CPIN\?", b"\r\n+CPIN: READY\r\n")  # Wavecom: no OK follows
    peer.on(r"AT\+CSQ", b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
    modem = Modem(fast_settings(peer.path, command_timeout=0.3, sweep_interval=60.0))
    modem.profile = dataclasses.replace(GENERIC, info_finals=("+CPIN:",))
    await modem.start()
    try:
        await modem.wait_ready(WAIT)
        health = await modem.health()
        assert health.sim == "ready"
        assert health.csq == 20
        assert modem.stats.timeouts == 0
    finally:
        await modem.stop()


DELIVER = "07911326040000F0040B911346610089F60000208062917314080CC8329BFD065DDF72363904"


async def test_indication_for_slot_zero_is_read_at_once_by_the_generic_profile(
    peer: ScriptedPeer,
) -> None:
    peer.on(r"AT\+CPIN\?", b"\r\n+CPIN: READY\r\n\r\nOK\r\n")
    peer.on(r"AT\+CMGR=0", f"\r\n+CMGR: 0,,24\r\n{DELIVER}\r\n\r\nOK\r\n".encode())
    modem = Modem(fast_settings(peer.path, sweep_interval=60.0))
    await modem.start()
    try:
        await modem.wait_ready(WAIT)
        await peer.wait_command("AT+CMGL")  # the sweep at READY found nothing
        peer.send(b'\r\n+CMTI: "SM",0\r\n')
        event = await next_event(modem, InboundMessage)
        assert isinstance(event, InboundMessage)
        assert event.location is not None
        assert (event.location.memory, event.location.index) == ("SM", 0)
        assert event.deliver.text == "Hello World!"
    finally:
        await modem.stop()


async def test_late_acknowledgement_sets_routing_again(sim_path: Path) -> None:
    """A routed report acked after the modem gave up waiting (a slow commit): the modem
    stopped routing; the driver restores it."""
    async with running(
        sim_path,
        sim_profile="simcom",
        message_service=1,
        sim_options={"report_delay": 0.02},
    ) as (sim, modem):
        sim.set_ack_timeout(0.1)
        await ready(modem)
        routing = list(sim.settings.cnmi)
        await modem.send(encode(NUMBER, "one")[0])
        first = await next_event(modem, StatusReportReceived)
        assert isinstance(first, StatusReportReceived)
        assert first.ack is not None
        await until(lambda: sim.settings.cnmi[3] == 0)  # no AT+CNMA in time: routing off
        await modem.acknowledge(first.ack)  # +CMS ERROR: 340, then AT+CNMI again
        assert sim.commands.count("AT+CNMI=" + ",".join(map(str, routing))) == 2
        assert sim.settings.cnmi == routing
        mr = await modem.send(encode(NUMBER, "two")[0])
        event = await next_event(modem, StatusReportReceived)
        assert isinstance(event, StatusReportReceived)
        assert event.report.reference == mr


async def test_routing_an_earlier_open_left_unacknowledged_is_set_again(sim_path: Path) -> None:
    """A report routed to a process that died is never acknowledged: the modem switches
    routing off once its wait ends, which may be after the next open set it. That open
    has no acknowledgement of its own pending, so it notices by asking (AT+CNMI?)."""
    async with running(
        sim_path,
        sim_profile="simcom",
        message_service=1,
        routing_check_interval=0.05,
        sim_options={"report_delay": 0.02},
    ) as (sim, first):
        await ready(first)
        routing = list(sim.settings.cnmi)
        await first.send(encode(NUMBER, "one")[0])
        report = await next_event(first, StatusReportReceived)
        assert isinstance(report, StatusReportReceived)
        await first.stop()  # dies before acknowledging it
        second = Modem(
            fast_settings(
                sim_path, profile="simcom", message_service=1, routing_check_interval=0.05
            ),
            name="m2",
        )
        await ready(second)
        try:
            # The modem's wait for the first open's acknowledgement ends now: routing off.
            sim.settings.cnmi[1] = sim.settings.cnmi[3] = 0
            await until(lambda: sim.settings.cnmi == routing)
            mr = await second.send(encode(NUMBER, "two")[0])
            event = await next_event(second, StatusReportReceived)
            assert isinstance(event, StatusReportReceived)
            assert event.report.reference == mr
        finally:
            await second.stop()
