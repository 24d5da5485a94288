"""Every line reaches the command or URC it belongs to: after a missed deadline (a late
answer), after an answer ended by its prefix, across split reads, and during set commands
named like a URC."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from drivers import engine as engine_module
from drivers.engine import AtEngine, expected_prefixes
from drivers.errors import CommandTimeout
from tests.drivers.conftest import WAIT, EngineRig, Recorder, ok, until

LATE = b"\r\n+CMGR: 0,,23\r\nAAAA5555\r\n\r\nOK\r\n"  # the answer to AT+CMGR=5, too late
ANSWER_6 = b"\r\n+CMGR: 0,,23\r\nBBBB6666\r\n\r\nOK\r\n"


@pytest.fixture(autouse=True)
def short_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "RESYNC_QUIET", 0.05)


def serial_modem(late: list[bytes], answer: bytes) -> Callable[[str], bytes]:
    """A modem answers in order: a late answer still owed goes out before the next one."""

    def respond(_: str) -> bytes:
        return (late.pop() if late else b"") + answer

    return respond


async def test_late_answer_after_a_timeout_is_not_taken_by_the_next_command(
    rig: EngineRig,
) -> None:
    late = [LATE]
    rig.peer.on(r"AT\+CMGR=5", None)
    rig.peer.on(r"AT\+CMGR=6", serial_modem(late, ANSWER_6))
    rig.peer.on(r"AT", serial_modem(late, ok()))
    with pytest.raises(CommandTimeout):
        await rig.engine.command("AT+CMGR=5", seconds=0.05)
    lines = await rig.engine.command("AT+CMGR=6", seconds=WAIT)
    assert lines == ["+CMGR: 0,,23", "BBBB6666"]
    # Realigned once; the command after it needs no further probe.
    assert await rig.engine.command("AT+CSQ", seconds=WAIT) == []
    assert rig.peer.commands[-2:] == ["AT+CMGR=6", "AT+CSQ"]


async def test_late_cmgs_answer_is_not_taken_as_the_next_sends_final(rig: EngineRig) -> None:
    late = [ok("+CMGS: 41")]
    rig.peer.on(r"AT\+CMGS=19", serial_modem(late, b"\r\n> "))
    rig.peer.on(r"AT\+CSQ", None)
    rig.peer.on(r"[0-9A-F]+<ctrl-z>", ok("+CMGS: 42"))
    rig.peer.on(r"AT", serial_modem(late, ok()))
    with pytest.raises(CommandTimeout):
        await rig.engine.command("AT+CSQ", seconds=0.05)
    pdu = "0011000B915155214365F70000AA05E8329BFD06"
    assert await rig.engine.send_pdu(19, pdu, prompt_seconds=WAIT, result_seconds=WAIT) == 42


async def test_still_silent_modem_keeps_timing_out(rig: EngineRig) -> None:
    rig.peer.on(r"AT\+SLOW", None)
    rig.peer.on(r"AT", None)
    with pytest.raises(CommandTimeout):
        await rig.engine.command("AT+SLOW", seconds=0.05)
    with pytest.raises(CommandTimeout):
        await rig.engine.command("AT+CSQ", seconds=0.05)
    assert rig.engine.consecutive_timeouts == 2
    assert "AT+CSQ" not in rig.peer.commands  # never written into a stream out of step


async def test_caller_cancelled_while_realigning_leaves_the_engine_usable(
    rig: EngineRig,
) -> None:
    held: list[str] = []

    def hold(line: str) -> None:  # the probe goes unanswered for now
        held.append(line)

    rig.peer.on(r"AT\+SLOW", None)
    rig.peer.on(r"AT", hold)
    with pytest.raises(CommandTimeout):
        await rig.engine.command("AT+SLOW", seconds=0.05)
    caller = asyncio.create_task(rig.engine.command("AT+CSQ", seconds=WAIT))
    await until(lambda: held == ["AT"])
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    rig.peer.on(r"AT", ok())
    rig.peer.on(r"AT\+CSQ", ok("+CSQ: 17,99"))
    rig.peer.send(ok())  # the cancelled probe's answer arrives after all
    assert await rig.engine.command("AT+CSQ", seconds=WAIT) == ["+CSQ: 17,99"]
    assert "AT+CSQ" not in rig.peer.commands[:-1]  # not written before the cancel


async def test_ok_after_an_answer_ended_by_its_prefix_is_not_the_next_commands(
    rig: EngineRig,
) -> None:
    trailing = [ok()]  # this firmware does send the OK, just in a later read
    rig.peer.on(r"AT\+CPIN\?", b"\r\n+CPIN: READY\r\n")
    rig.peer.on(r"AT\+CSQ", serial_modem(trailing, ok("+CSQ: 17,99")))
    rig.peer.on(r"AT", serial_modem(trailing, ok()))
    lines = await rig.engine.command("AT+CPIN?", seconds=WAIT, final_prefix="+CPIN:")
    assert lines == ["+CPIN: READY"]
    assert await rig.engine.command("AT+CSQ", seconds=WAIT) == ["+CSQ: 17,99"]


def test_set_commands_do_not_claim_urc_prefixes() -> None:
    assert expected_prefixes("AT+CREG=2") == ()
    assert expected_prefixes('AT+CPIN="1234"') == ()
    assert expected_prefixes("AT+CREG=?") == ("+CREG:",)
    assert expected_prefixes("AT+CPIN?") == ("+CPIN:",)
    assert expected_prefixes("AT+CMGR=5") == ("+CMGR:",)  # not a URC prefix: its answer


async def test_registration_urc_during_its_set_command_is_routed(rig: EngineRig) -> None:
    rig.peer.on(r"AT\+CREG=2", ok('+CREG: 1,"1A2B","0C3D",7'))
    assert await rig.engine.command("AT+CREG=2", seconds=WAIT) == []
    assert [(u.name, u.value) for u in rig.recorder.urcs] == [("+CREG:", '1,"1A2B","0C3D",7')]


class _Wire:
    """In-memory writer: the engine alone, fed bytes exactly as a test splits them."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


async def test_routed_pdu_split_across_reads_survives_a_command_started_between() -> None:
    recorder = Recorder()
    engine = AtEngine(_Wire(), recorder)
    pdu = "07911326040000F0040B911346610089F60000208062917314080CC8329BFD065DDF72363904"
    engine.feed(f"\r\n+CMT: ,24\r\n{pdu[:30]}".encode())  # a USB read ends mid-line
    command = asyncio.create_task(engine.command("AT+CSQ", seconds=WAIT))
    await until(lambda: engine.stats.commands == 1)
    engine.feed(f"{pdu[30:]}\r\n\r\n+CSQ: 17,99\r\n\r\nOK\r\n".encode())
    assert await command == ["+CSQ: 17,99"]
    assert [(u.name, u.pdu) for u in recorder.urcs] == [("+CMT:", pdu)]


async def test_reset_is_written_even_when_the_modem_no_longer_answers(rig: EngineRig) -> None:
    rig.peer.on(r"AT\+SLOW", None)
    rig.peer.on(r"AT", None)
    with pytest.raises(CommandTimeout):
        await rig.engine.command("AT+SLOW", seconds=0.05)
    await rig.engine.command("AT+CFUN=1,1", seconds=WAIT, realign=False)
    assert rig.peer.commands == ["AT+SLOW", "AT+CFUN=1,1"]
