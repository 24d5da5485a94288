"""The modem layer against the simulated modem on a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import drivers.modem
from drivers.errors import CmsError, CommandTimeout, ModemUnavailable, SendUnknown
from drivers.modem import HangLadder, Modem, ModemSettings
from drivers.pdu import Encoding, encode, encode_deliver
from drivers.session import Session
from drivers.simulator.codec import tpdu_length
from drivers.simulator.modem import SimulatedModem
from drivers.simulator.profiles import PROFILE_TABLE
from drivers.simulator.storage import STO_SENT, STO_UNSENT, StoredSms
from drivers.types import (
    InboundMessage,
    ModemState,
    NetworkChanged,
    Registration,
    StateChanged,
    StatusReportReceived,
    UndecodablePdu,
)
from tests.drivers.conftest import WAIT, fast_settings, next_event, until

NUMBER = "+15551234567"
OTHER = "+15557654321"

# simulator profile -> driver profile
PROFILES = {name: profile.driver for name, profile in PROFILE_TABLE.items()}


@asynccontextmanager
async def running(
    path: Path,
    *,
    sim_profile: str = "generic",
    start_sim: bool = True,
    sim_options: dict[str, Any] | None = None,
    **settings: Any,
) -> AsyncIterator[tuple[SimulatedModem, Modem]]:
    sim = SimulatedModem(path, profile=sim_profile, seed=7, **(sim_options or {}))
    settings.setdefault("profile", PROFILES[sim_profile])
    modem = Modem(fast_settings(path, **settings), name="m1")
    if start_sim:
        await sim.start()
    try:
        yield sim, modem
    finally:
        await modem.stop()
        await sim.stop()


async def ready(modem: Modem) -> None:
    """Start, wait for READY, and consume the state events up to it."""
    await modem.start()
    await modem.wait_ready(WAIT)
    await state(modem, ModemState.READY)


async def state(modem: Modem, wanted: ModemState, within: float = WAIT) -> StateChanged:
    async with asyncio.timeout(within):
        while True:
            event = await next_event(modem, StateChanged)
            assert isinstance(event, StateChanged)
            if event.state is wanted:
                return event


async def changes(modem: Modem, count: int) -> list[tuple[ModemState, str]]:
    """The next ``count`` state changes, as (state, reason)."""
    out = []
    for _ in range(count):
        event = await next_event(modem, StateChanged)
        assert isinstance(event, StateChanged)
        out.append((event.state, event.reason))
    return out


async def inbound(modem: Modem, count: int) -> list[InboundMessage]:
    out = []
    for _ in range(count):
        event = await next_event(modem, InboundMessage)
        assert isinstance(event, InboundMessage)
        out.append(event)
    return out


@pytest.mark.parametrize("sim_profile", sorted(PROFILES))
async def test_initialises_each_vendor_profile(sim_path: Path, sim_profile: str) -> None:
    async with running(sim_path, sim_profile=sim_profile) as (sim, modem):
        await ready(modem)
        assert modem.state is ModemState.READY
        assert modem.identity is not None
        assert (modem.identity.imei, modem.identity.imsi, modem.identity.iccid) == (
            sim.imei,
            sim.imsi,
            sim.iccid,
        )
        assert sim.settings.cmgf == 0
        assert sim.settings.echo is False
        assert sim.settings.cnmi[1] == 1  # +CMTI
        # SIM800 has no <ds>=2: reports are routed as +CDS instead of stored.
        assert sim.settings.cnmi[3] == (1 if sim_profile == "simcom" else 2)
        if sim_profile == "huawei":
            assert "AT^CURC=0" in sim.commands
        mr = await modem.send(encode(NUMBER, "ping")[0])
        assert sim.sent[-1].reference == mr


@pytest.mark.parametrize(
    ("sim_profile", "expected"), [("quectel", "quectel"), ("huawei", "huawei")]
)
async def test_auto_profile_from_identity(sim_path: Path, sim_profile: str, expected: str) -> None:
    async with running(sim_path, sim_profile=sim_profile, profile="auto") as (_, modem):
        await ready(modem)
        assert modem.profile.name == expected


async def test_send_single_multipart_and_unicode(sim_path: Path) -> None:
    async with running(sim_path) as (sim, modem):
        await ready(modem)
        texts = ["Your appointment is at 10:00", "x" * 300, "Привет 👋 see you"]
        sent_refs = []
        for text in texts:
            for pdu in encode(NUMBER, text):
                sent_refs.append(await modem.send(pdu))
        assert len(sim.sent) == len(sent_refs) == 1 + 2 + 1
        assert [s.reference for s in sim.sent] == sent_refs
        assert len(set(sent_refs)) == len(sent_refs)
        assert {s.submit.recipient for s in sim.sent} == {NUMBER}
        assert sim.sent[0].submit.text == texts[0]
        assert "".join(s.submit.text for s in sim.sent[1:3]) == texts[1]
        assert sim.sent[3].submit.encoding is Encoding.UCS2
        assert sim.sent[3].submit.text == texts[2]


async def test_receive_single_and_multipart_stored(sim_path: Path) -> None:
    async with running(sim_path) as (sim, modem):
        await ready(modem)
        sim.deliver(OTHER, "hello")
        (single,) = await inbound(modem, 1)
        assert single.deliver.text == "hello"
        assert single.deliver.sender == OTHER
        assert single.location is not None
        assert single.location.memory == "ME"
        sim.deliver(OTHER, "y" * 200, shuffle=True)
        parts = await inbound(modem, 2)
        assert sorted(p.deliver.concat.sequence for p in parts if p.deliver.concat) == [1, 2]
        assert (
            "".join(
                p.deliver.text
                for p in sorted(parts, key=lambda p: p.deliver.concat.sequence)  # type: ignore[union-attr]
            )
            == "y" * 200
        )
        for event in (single, *parts):
            assert event.location is not None
            await modem.delete(event.location)
        assert sim.memories["ME"].used == 0


async def test_messages_stored_while_away_are_swept_at_start(sim_path: Path) -> None:
    async with running(sim_path) as (sim, modem):
        sim.preload(OTHER, "while you were out")
        sim.preload(NUMBER, "second")
        await ready(modem)
        events = await inbound(modem, 2)
        assert sorted(e.deliver.text for e in events) == ["second", "while you were out"]
        assert all(e.location is not None for e in events)
        assert sim.memories["ME"].used == 2  # nothing deleted before the gateway says so


async def test_status_report_stored_and_read_from_its_memory(sim_path: Path) -> None:
    async with running(sim_path) as (sim, modem):
        await ready(modem)
        mr = await modem.send(encode(NUMBER, "report me")[0])
        event = await next_event(modem, StatusReportReceived)
        assert isinstance(event, StatusReportReceived)
        assert event.report.reference == mr
        assert event.report.outcome == "delivered"
        assert event.location is not None
        assert event.location.memory == "SR"
        await modem.delete(event.location)
        assert sim.memories["SR"].used == 0


async def test_status_report_routed_and_acknowledged(sim_path: Path) -> None:
    async with running(sim_path, sim_profile="simcom", message_service=1) as (sim, modem):
        sim.set_ack_timeout(2.0)
        await ready(modem)
        mr = await modem.send(encode(NUMBER, "report me")[0])
        event = await next_event(modem, StatusReportReceived)
        assert isinstance(event, StatusReportReceived)
        assert event.report.reference == mr
        assert event.location is None
        assert event.ack is not None
        assert "AT+CNMA" not in sim.commands  # the gateway has not committed it yet
        await modem.acknowledge(event.ack)
        assert sim.commands[-1] == "AT+CNMA"
        await until(lambda: not sim.take_ack() and sim.settings.cnmi[3] == 1)


async def test_an_undecodable_stored_pdu_is_handed_out_raw_and_can_be_freed(
    sim_path: Path,
) -> None:
    async with running(sim_path) as (sim, modem):
        cut = "07915155000000F0040B915155443423F2000062"  # ends inside the timestamp
        sim.memories["ME"].store(StoredSms(cut, len(cut) // 2 - 8))
        await ready(modem)
        event = await next_event(modem, UndecodablePdu)
        assert isinstance(event, UndecodablePdu)
        assert event.pdu_hex == cut
        assert event.location is not None
        assert modem.stats.undecodable_pdus == 2  # the listing, then one read of the slot
        assert await modem.delete(event.location)
        assert sim.memories["ME"].used == 0


async def test_outgoing_messages_left_in_storage_are_deleted_and_counted(
    sim_path: Path,
) -> None:
    """Another program (or a send to memory) left SMS-SUBMITs in storage: nothing would
    ever free them, so they are deleted at the sweep; received ones wait for the gateway."""
    async with running(sim_path) as (sim, modem):
        memory = sim.memories["ME"]
        for stat in (STO_SENT, STO_UNSENT):
            [left] = encode(NUMBER, f"left behind {stat}")
            memory.store(StoredSms(left.hex, left.tpdu_length, stat))
        [reply] = encode_deliver("+15550009999", "a patient's reply", timestamp=datetime.now(UTC))
        received = memory.store(StoredSms(reply, tpdu_length(reply)))
        await ready(modem)
        event = await next_event(modem, InboundMessage)
        assert isinstance(event, InboundMessage)
        await until(lambda: modem.stats.stored_outgoing_deleted == 2)
        assert [index for index, _ in memory.listing(4)] == [received]
        assert event.location is not None
        assert await modem.delete(event.location)
        assert memory.used == 0


async def test_cms_error_carries_its_number(sim_path: Path) -> None:
    async with running(sim_path) as (sim, modem):
        await ready(modem)
        sim.fail_sends(42)
        with pytest.raises(CmsError) as caught:
            await modem.send(encode(NUMBER, "congested")[0])
        assert caught.value.number == 42
        assert caught.value.code == "cms_error"
        assert await modem.send(encode(NUMBER, "again")[0]) == sim.sent[-1].reference


async def test_lost_answer_after_prompt_is_send_unknown(sim_path: Path) -> None:
    async with running(sim_path, cmgs_timeout=0.2) as (sim, modem):
        await ready(modem)
        sim.hang_after_prompt()
        with pytest.raises(SendUnknown):
            await modem.send(encode(NUMBER, "did it go?")[0])
        assert sim.sent[-1].answered is False
        assert await modem.send(encode(NUMBER, "next")[0]) == sim.sent[-1].reference


async def test_hang_mid_command_reopens_and_recovers(sim_path: Path) -> None:
    async with running(sim_path, command_timeout=0.3, max_consecutive_timeouts=2) as (
        sim,
        modem,
    ):
        await ready(modem)
        sim.hang()
        for _ in range(2):
            with pytest.raises((CommandTimeout, ModemUnavailable)):
                await modem.health()
        down = await state(modem, ModemState.DOWN)
        assert down.reason == "unresponsive"
        with pytest.raises(ModemUnavailable):
            await modem.send(encode(NUMBER, "not now")[0])
        sim.resume()
        up = await state(modem, ModemState.READY)
        assert up.reason == "initialised"
        assert (await modem.health()).registration is Registration.HOME


async def test_registration_loss_shows_in_health_and_events(sim_path: Path) -> None:
    async with running(sim_path) as (sim, modem):
        await ready(modem)
        health = await modem.health()
        assert health.registration is Registration.HOME
        assert health.signal_dbm == -113 + 2 * sim.csq
        assert health.technology == "lte"
        assert health.operator == sim.operator
        sim.set_registration(0)
        event = await next_event(modem, NetworkChanged)
        assert isinstance(event, NetworkChanged)
        assert event.registration is Registration.NOT_REGISTERED
        sim.set_signal(99)
        lost = await modem.health()
        assert lost.registration is Registration.NOT_REGISTERED
        assert lost.signal_dbm is None
        assert lost.csq is None


async def test_garbage_is_survived_and_counted(sim_path: Path) -> None:
    async with running(sim_path) as (sim, modem):
        await ready(modem)
        sim.emit(b"\r\n\xff\xfe\x80junk\r\n" + b"Z" * 5000 + b"\r\n")
        await until(lambda: modem.stats.overlong_lines == 1)
        assert modem.stats.garbage_bytes >= 3
        assert (await modem.health()).registration is Registration.HOME
        assert modem.state is ModemState.READY


async def test_vanish_and_reappear_under_the_same_path(sim_path: Path) -> None:
    async with running(sim_path) as (sim, modem):
        await ready(modem)
        await sim.vanish()
        down = await state(modem, ModemState.DOWN)
        assert down.reason == "unplugged"
        sim.deliver(OTHER, "sent while unplugged")
        await sim.reappear()
        up = await state(modem, ModemState.READY)
        assert up.reason == "initialised"
        (event,) = await inbound(modem, 1)
        assert event.deliver.text == "sent while unplugged"


async def test_a_location_from_before_a_reopen_is_not_deleted(sim_path: Path) -> None:
    # After a replug the slot may hold a message nobody committed: a location handed out
    # by an earlier open never deletes anything; the new open's sweep offers it again.
    async with running(sim_path) as (sim, modem):
        sim.preload(OTHER, "stored before the replug")
        await ready(modem)
        (before,) = await inbound(modem, 1)
        assert before.location is not None
        await sim.vanish()
        await state(modem, ModemState.DOWN)
        await sim.reappear()
        await state(modem, ModemState.READY)
        (again,) = await inbound(modem, 1)
        assert again.deliver.text == "stored before the replug"
        assert again.location is not None
        assert (again.location.memory, again.location.index) == (
            before.location.memory,
            before.location.index,
        )
        assert again.location != before.location
        mark = len(sim.commands)
        await modem.delete(before.location)
        assert not [c for c in sim.commands[mark:] if c.startswith("AT+CMGD")]
        await modem.delete(again.location)
        assert [c for c in sim.commands[mark:] if c.startswith("AT+CMGD")] == [
            f"AT+CMGD={again.location.index}"
        ]


async def test_a_different_modem_on_the_same_path_is_reported(sim_path: Path) -> None:
    async with running(sim_path) as (sim, modem):
        await ready(modem)
        await sim.stop()
        replacement = SimulatedModem(sim_path, profile="generic", imei="490154203237518")
        await replacement.start()
        try:
            up = await state(modem, ModemState.READY)
            assert up.reason == "identity_changed"
            assert modem.identity is not None
            assert modem.identity.imei == "490154203237518"
        finally:
            await modem.stop()
            await replacement.stop()


async def test_reset_reopens_by_path(sim_path: Path) -> None:
    async with running(sim_path, sim_options={"reset_time": 0.05}) as (sim, modem):
        await ready(modem)
        await modem.reset()
        assert (await state(modem, ModemState.DOWN)).reason == "reset"
        await state(modem, ModemState.READY)
        assert "AT+CFUN=1,1" in sim.commands


async def test_reset_notices_a_modem_that_re_enumerates_between_polls(sim_path: Path) -> None:
    # The node is gone for 20 ms while the path poll runs once a second: the new node is
    # told apart from the old one by its identity, not by having seen the gap.
    options = {"reset_time": 0.02}
    async with running(
        sim_path, sim_options=options, path_poll_interval=1.0, boot_timeout=30.0
    ) as (
        sim,
        modem,
    ):
        await ready(modem)
        await modem.reset()
        await state(modem, ModemState.DOWN)
        await state(modem, ModemState.READY)  # within WAIT, far below boot_timeout
        assert sim.commands.count("AT+CFUN=1,1") == 1


async def test_sim_storage_full_is_drained_by_deletes(sim_path: Path) -> None:
    async with running(sim_path, sim_options={"storage_capacity": 5}) as (sim, modem):
        assert sim.fill_storage() == 5
        await ready(modem)
        stored = await inbound(modem, 5)
        health = await modem.health()
        assert (health.storage_used, health.storage_total) == (5, 5)
        sim.deliver(OTHER, "waiting at the network")
        assert sim.pending == 1
        for event in stored:
            assert event.location is not None
            await modem.delete(event.location)
        (late,) = await inbound(modem, 1)
        assert late.deliver.text == "waiting at the network"


async def test_wrong_pin_is_never_retried(sim_path: Path) -> None:
    async with running(sim_path, sim_options={"pin": "1234"}, pin="9999") as (sim, modem):
        await modem.start()
        with pytest.raises(ModemUnavailable):
            await modem.wait_ready(WAIT)
        assert modem.state is ModemState.DOWN
        assert modem.state_reason == "sim_pin"
        assert sum(c.startswith('AT+CPIN="') for c in sim.commands) == 1


async def test_configured_pin_unlocks(sim_path: Path) -> None:
    async with running(sim_path, sim_options={"pin": "1234"}, pin="1234") as (_, modem):
        await ready(modem)
        assert (await modem.health()).sim == "ready"


@pytest.mark.parametrize("sim_profile", ["generic", "huawei"])
async def test_ussd(sim_path: Path, sim_profile: str) -> None:
    async with running(sim_path, sim_profile=sim_profile) as (sim, modem):
        await ready(modem)
        reply = await modem.ussd("*100#")
        assert reply.text == sim.ussd_reply
        assert reply.status == 0


async def test_technician_command_and_unavailable_when_not_ready(sim_path: Path) -> None:
    async with running(sim_path, start_sim=False) as (sim, modem):
        with pytest.raises(ModemUnavailable):
            await modem.send(encode(NUMBER, "too early")[0])
        await sim.start()
        await ready(modem)
        assert await modem.command("AT+CGMM") == [sim.profile.model]


async def test_stop_leaves_nothing_running(sim_path: Path) -> None:
    async with running(sim_path) as (_, modem):
        await ready(modem)
        await modem.stop()
        assert modem.state is ModemState.CLOSED
        names = [t.get_name() for t in asyncio.all_tasks()]
        assert not [n for n in names if n.startswith("modem:")]


async def test_stop_while_port_missing(sim_path: Path) -> None:
    async with running(sim_path, start_sim=False) as (_, modem):
        await modem.start()
        with pytest.raises(ModemUnavailable):
            await modem.wait_ready(0.2)
        await modem.stop()
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("modem:")]


async def test_logs_carry_no_numbers_or_texts(
    sim_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="drivers")
    async with running(sim_path) as (sim, modem):
        await ready(modem)
        await modem.send(encode(NUMBER, "secret diagnosis")[0])
        sim.deliver(OTHER, "secret reply")
        await inbound(modem, 1)
    assert caplog.records  # something was logged
    for needle in ("5551234567", "5557654321", "secret", "ZWNyZXQ"):
        assert needle not in caplog.text


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="profile"):
        ModemSettings(port="/dev/null", profile="nokia")
    with pytest.raises(ValueError, match="command_timeout"):
        ModemSettings(port="/dev/null", command_timeout=0)
    assert "1234" not in repr(ModemSettings(port="/dev/null", pin="1234"))


async def test_passthrough_and_ussd_refuse_injection(sim_path: Path) -> None:
    async with running(sim_path) as (sim, modem):
        await ready(modem)
        with pytest.raises(ValueError, match="passthrough"):
            await modem.command("AT+CMGS=20")
        with pytest.raises(ValueError, match="USSD"):
            await modem.ussd('*100#",15\rAT+CMGD=1,4')
        assert not [c for c in sim.commands if c.startswith(("AT+CMGD", "AT+CMGS"))]


@pytest.mark.parametrize("sim_profile", ["quectel", "simcom"])
async def test_waits_for_a_booting_modem(sim_path: Path, sim_profile: str) -> None:
    async with running(sim_path, sim_profile=sim_profile, sim_options={"boot_delay": 0.3}) as (
        sim,
        modem,
    ):
        await modem.start()
        await modem.wait_ready(WAIT)
        assert modem.state_reason == "initialised"
        assert sim.commands.count("AT") >= 1
        events = []
        while not modem.events.empty():
            events.append(modem.events.get_nowait())
        assert [e.state for e in events if isinstance(e, StateChanged)] == [
            ModemState.STARTING,
            ModemState.READY,
        ]


async def test_unexpected_reboot_reinitialises(sim_path: Path) -> None:
    async with running(sim_path) as (sim, modem):
        await ready(modem)
        before = sim.commands.count("AT+CNMI=2,1,0,2,0")
        sim.urc("RDY")  # the modem restarted by itself: its CNMI settings are gone
        assert (await state(modem, ModemState.DOWN)).reason == "rebooted"
        await state(modem, ModemState.READY)
        assert sim.commands.count("AT+CNMI=2,1,0,2,0") == before + 1


async def test_reset_of_a_hung_modem_reopens_without_waiting_for_a_replug(
    sim_path: Path,
) -> None:
    async with running(sim_path, command_timeout=0.2, boot_timeout=3.0) as (sim, modem):
        await ready(modem)
        sim.hang()
        await modem.reset()  # AT+CFUN=1,1 goes unanswered
        assert (await state(modem, ModemState.DOWN)).reason == "reset"
        sim.resume()
        await state(modem, ModemState.READY, within=2.0)  # < boot_timeout: no vanish wait


def test_hang_ladder_resets_hard_once_per_window_and_forgets_old_hangs() -> None:
    ladder = HangLadder(window=10.0)
    assert not ladder.unresponsive(0.0)  # first: reopen and re-initialise
    assert not ladder.persisting(0.0)
    assert ladder.unresponsive(1.0)  # the re-initialise did not cure it: hard reset
    assert not ladder.unresponsive(2.0)  # again: no second hard reset within the window
    assert ladder.persisting(2.0)
    assert ladder.unresponsive(11.5)  # a window after the hard reset, with a recent hang
    healthy = HangLadder(window=10.0)
    assert not healthy.unresponsive(0.0)
    assert not healthy.unresponsive(10.0)  # answered for a whole window: from the bottom
    assert not healthy.persisting(10.0)


async def test_send_hangs_climb_to_one_hard_reset(sim_path: Path) -> None:
    async with running(
        sim_path,
        sim_options={"reset_time": 0.05},
        # each hang costs this much; 0.2 s also failed the healthy last send under load
        cmgs_timeout=1.0,
        max_consecutive_timeouts=1,
        unresponsive_window=60.0,
    ) as (sim, modem):
        await ready(modem)
        # re-initialise, then hard reset, then (reset already tried this window) reopen only
        for rung in ("unresponsive", "hard_reset", "unresponsive"):
            sim.hang_after_prompt()  # the PDU goes out, its +CMGS answer never comes
            with pytest.raises(SendUnknown):
                await modem.send(encode(NUMBER, "did it go?")[0])
            assert sim.sent[-1].answered is False
            with pytest.raises(ModemUnavailable):  # the next message stays queued
                await modem.send(encode(NUMBER, "next")[0])
            assert await changes(modem, 2) == [
                (ModemState.DOWN, rung),
                (ModemState.READY, "initialised"),
            ]
        assert sim.commands.count("AT+CFUN=1,1") == 1
        assert await modem.send(encode(NUMBER, "cured")[0]) == sim.sent[-1].reference


async def test_silent_modem_backs_off_and_comes_back(
    sim_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    opens: list[float] = []

    class CountedSession(Session):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            opens.append(loop.time())

    monkeypatch.setattr(drivers.modem, "Session", CountedSession)
    boot, least, most = 0.1, 0.05, 0.3
    async with running(
        sim_path,
        command_timeout=0.1,
        max_consecutive_timeouts=1,
        boot_timeout=boot,
        boot_poll_interval=0.05,
        reconnect_min=least,
        reconnect_max=most,
        unresponsive_window=60.0,
    ) as (sim, modem):
        await ready(modem)
        sim.hang()
        with pytest.raises(CommandTimeout):
            await modem.health()
        assert await changes(modem, 3) == [
            (ModemState.DOWN, "unresponsive"),
            (ModemState.DOWN, "hard_reset"),  # AT+CFUN=1,1 goes unanswered: reopened anyway
            (ModemState.DOWN, "unresponsive"),
        ]
        await until(lambda: len(opens) >= 6)
        gaps = [b - a for a, b in itertools.pairwise(opens[1:])]  # between retries
        assert min(gaps) >= boot + least  # each try waits out its boot deadline and a backoff
        assert gaps[-1] >= boot + most  # the backoff grew to its cap
        queued = [modem.events.get_nowait() for _ in range(modem.events.qsize())]
        assert not [e for e in queued if isinstance(e, StateChanged)]  # quiet while DOWN
        sim.resume()
        assert await changes(modem, 1) == [(ModemState.READY, "initialised")]
        assert (await modem.health()).registration is Registration.HOME
