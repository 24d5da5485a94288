"""The AT engine against a scripted peer on a real pseudo-terminal."""

from __future__ import annotations

import asyncio

import pytest

from drivers.engine import CommandPriority, PriorityLock, command_name, expected_prefixes
from drivers.errors import (
    CmeError,
    CmsError,
    CommandError,
    CommandTimeout,
    ModemDisconnected,
    SendUnknown,
)
from drivers.urcs import final_result
from tests.drivers.conftest import WAIT, EngineRig, ok, until

PDU = "0011000B915155214365F70000AA05E8329BFD06"


async def test_intermediate_lines_returned_and_echo_dropped(rig: EngineRig) -> None:
    rig.peer.echo = True
    rig.peer.on(r"AT\+CGMM", ok("EC25"))
    assert await rig.engine.command("AT+CGMM", seconds=WAIT) == ["EC25"]
    assert rig.peer.commands == ["AT+CGMM"]


async def test_echo_off_still_fine(rig: EngineRig) -> None:
    rig.peer.on(r"AT\+CSQ", ok("+CSQ: 17,99"))
    assert await rig.engine.command("AT+CSQ", seconds=WAIT) == ["+CSQ: 17,99"]


@pytest.mark.parametrize(
    ("final", "error", "number"),
    [
        ("+CME ERROR: 10", CmeError, 10),
        ("+CMS ERROR: 322", CmsError, 322),
        ("+CME ERROR: SIM not inserted", CmeError, None),
        ("+CMS ERROR: unknown error", CmsError, None),
        ("ERROR", CommandError, None),
        ("COMMAND NOT SUPPORT", CommandError, None),
        ("MODEM ERROR: 3", CommandError, None),  # a profile's extra error final
    ],
)
async def test_error_finals_become_typed_errors(
    rig: EngineRig, final: str, error: type[CommandError], number: int | None
) -> None:
    rig.peer.on(r"AT\+CPIN\?", f"\r\n{final}\r\n".encode())
    with pytest.raises(error) as caught:
        await rig.engine.command("AT+CPIN?", seconds=WAIT)
    assert type(caught.value) is error
    assert getattr(caught.value, "number", None) == number
    if number is None and error is not CommandError:
        assert caught.value.text  # type: ignore[attr-defined]


async def test_error_message_never_carries_arguments(rig: EngineRig) -> None:
    rig.peer.on(r'AT\+CPIN="\d+"', b"\r\n+CME ERROR: 16\r\n")
    with pytest.raises(CmeError) as caught:
        await rig.engine.command('AT+CPIN="4321"', seconds=WAIT)
    assert "4321" not in str(caught.value)
    assert caught.value.code == "cme_error"


def test_final_results_must_match_the_whole_line() -> None:
    assert final_result("AT", "OK") is None
    assert final_result("AT", "OK thanks, see you at 3") is False
    assert final_result("AT", "ERRORS in my bill?") is False
    assert final_result("AT", "NO CARRIER") is False  # a call URC unless we dialled
    assert isinstance(final_result("ATD", "NO CARRIER"), CommandError)


def test_command_names_and_expected_prefixes() -> None:
    assert command_name('AT+CPIN="1234"') == "AT+CPIN"
    assert command_name("ATD+15551234567;") == "ATD"
    assert expected_prefixes("AT+CREG?") == ("+CREG:",)
    assert expected_prefixes("AT^ICCID?") == ("^ICCID:",)
    assert expected_prefixes("ATE0") == ()


async def test_urcs_between_listing_items_are_routed_not_returned(rig: EngineRig) -> None:
    rig.peer.on(
        r"AT\+CMGL=4",
        b'\r\n+CMGL: 1,0,,20\r\n0791AA\r\n\r\n+CMTI: "SM",7\r\n'
        b"\r\n+CMGL: 2,1,,20\r\n0791BB\r\n\r\n^RSSI:14\r\n\r\nOK\r\n",
    )
    lines = await rig.engine.command("AT+CMGL=4", seconds=WAIT)
    assert lines == ["+CMGL: 1,0,,20", "0791AA", "+CMGL: 2,1,,20", "0791BB"]
    assert [(u.name, u.value) for u in rig.recorder.urcs] == [
        ("+CMTI:", '"SM",7'),
        ("^RSSI:", "14"),
    ]


async def test_two_line_urc_takes_only_the_next_line(rig: EngineRig) -> None:
    rig.peer.on(r"AT", b"\r\n+CDS: 25\r\n0791AABB\r\n\r\nOK\r\n")
    assert await rig.engine.command("AT", seconds=WAIT) == []
    (urc,) = rig.recorder.urcs
    assert (urc.name, urc.pdu) == ("+CDS:", "0791AABB")


async def test_two_line_urc_without_its_pdu_does_not_swallow_the_final(rig: EngineRig) -> None:
    rig.peer.on(r"AT", b"\r\n+CMT: ,23\r\nOK\r\n")
    assert await rig.engine.command("AT", seconds=WAIT) == []
    assert rig.recorder.urcs[0].pdu is None


async def test_solicited_prefix_is_a_response_unsolicited_is_a_urc(rig: EngineRig) -> None:
    rig.peer.on(r"AT\+CPIN\?", ok("+CPIN: READY"))
    rig.peer.on(r"AT\+CREG\?", ok('+CREG: 2,1,"1A2B","00C3D4E5",7'))
    assert await rig.engine.command("AT+CPIN?", seconds=WAIT) == ["+CPIN: READY"]
    assert await rig.engine.command("AT+CREG?", seconds=WAIT) == ['+CREG: 2,1,"1A2B","00C3D4E5",7']
    assert rig.recorder.urcs == []
    rig.peer.send(b"\r\n+CPIN: NOT READY\r\n\r\n+CREG: 0\r\n")
    urcs = await rig.recorder.wait_urcs(2)
    assert [u.name for u in urcs] == ["+CPIN:", "+CREG:"]


async def test_cmgs_with_urc_before_prompt_and_prompt_without_space(rig: EngineRig) -> None:
    rig.peer.on(r"AT\+CMGS=19", b'\r\n+CMTI: "ME",4\r\n\r\n>')
    rig.peer.on(r"[0-9A-F]+<ctrl-z>", ok("+CMGS: 201"))
    mr = await rig.engine.send_pdu(19, PDU, prompt_seconds=WAIT, result_seconds=WAIT)
    assert mr == 201
    assert rig.peer.commands == ["AT+CMGS=19", PDU + "<ctrl-z>"]
    assert rig.recorder.urcs[0].name == "+CMTI:"


async def test_cmgs_error_instead_of_prompt(rig: EngineRig) -> None:
    rig.peer.on(r"AT\+CMGS=19", b"\r\n+CMS ERROR: 330\r\n")
    with pytest.raises(CmsError) as caught:
        await rig.engine.send_pdu(19, PDU, prompt_seconds=WAIT, result_seconds=WAIT)
    assert caught.value.number == 330


async def test_cmgs_error_after_pdu(rig: EngineRig) -> None:
    rig.peer.on(r"AT\+CMGS=19", b"\r\n> ")
    rig.peer.on(r"[0-9A-F]+<ctrl-z>", b"\r\n+CMS ERROR: 42\r\n")
    with pytest.raises(CmsError) as caught:
        await rig.engine.send_pdu(19, PDU, prompt_seconds=WAIT, result_seconds=WAIT)
    assert caught.value.number == 42


async def test_missing_prompt_sends_escape_and_times_out(rig: EngineRig) -> None:
    rig.peer.on(r"AT\+CMGS=19", None)
    rig.peer.on(r"<esc>", ok())
    with pytest.raises(CommandTimeout):
        await rig.engine.send_pdu(19, PDU, prompt_seconds=0.1, result_seconds=WAIT)
    assert rig.peer.commands == ["AT+CMGS=19", "<esc>"]
    assert rig.engine.consecutive_timeouts == 1
    assert await rig.engine.command("AT", seconds=WAIT) == []  # the port is usable again
    assert rig.peer.commands[-1] == "AT"


async def test_lost_answer_after_pdu_is_send_unknown(rig: EngineRig) -> None:
    rig.peer.on(r"AT\+CMGS=19", b"\r\n> ")
    rig.peer.on(r"[0-9A-F]+<ctrl-z>", None)
    with pytest.raises(SendUnknown):
        await rig.engine.send_pdu(19, PDU, prompt_seconds=WAIT, result_seconds=0.1)
    assert rig.recorder.timeouts == [1]


async def test_unplug_after_pdu_is_send_unknown(rig: EngineRig) -> None:
    rig.peer.on(r"AT\+CMGS=19", b"\r\n> ")
    rig.peer.on(r"[0-9A-F]+<ctrl-z>", lambda _: rig.peer.unplug())
    with pytest.raises(SendUnknown) as caught:
        await rig.engine.send_pdu(19, PDU, prompt_seconds=WAIT, result_seconds=WAIT)
    assert isinstance(caught.value.__cause__, ModemDisconnected)


async def test_cancelled_send_keeps_the_port_until_its_answer(rig: EngineRig) -> None:
    rig.peer.on(r"AT\+CMGS=19", b"\r\n> ")
    rig.peer.on(r"[0-9A-F]+<ctrl-z>", None)
    send = asyncio.create_task(
        rig.engine.send_pdu(19, PDU, prompt_seconds=WAIT, result_seconds=WAIT)
    )
    await rig.peer.wait_command(PDU)
    send.cancel()
    with pytest.raises(asyncio.CancelledError):
        await send
    after = asyncio.create_task(rig.engine.command("AT+CSQ", seconds=WAIT))
    await until(lambda: rig.engine._lock.waiting == 1)  # queued behind the shielded send
    assert "AT+CSQ" not in rig.peer.commands
    rig.peer.send(ok("+CMGS: 9"))  # the answer to the cancelled send arrives
    assert await after == []
    assert rig.peer.commands[-1] == "AT+CSQ"


async def test_timeouts_are_counted_and_reset_by_an_answer(rig: EngineRig) -> None:
    rig.peer.on(r"AT\+SLOW", None)
    for expected in (1, 2):
        with pytest.raises(CommandTimeout):
            await rig.engine.command("AT+SLOW", seconds=0.05)
        assert rig.engine.consecutive_timeouts == expected
    assert rig.recorder.timeouts == [1, 2]
    assert rig.engine.stats.timeouts == 2
    await rig.engine.command("AT", seconds=WAIT)
    assert rig.engine.consecutive_timeouts == 0


async def test_unplug_fails_the_command_in_flight_and_the_queue(rig: EngineRig) -> None:
    rig.peer.on(r"AT\+HOLD", None)
    first = asyncio.create_task(rig.engine.command("AT+HOLD", seconds=WAIT))
    queued = asyncio.create_task(rig.engine.command("AT+CSQ", seconds=WAIT))
    await rig.peer.wait_command("AT+HOLD")
    rig.peer.unplug()
    for task in (first, queued):
        with pytest.raises(ModemDisconnected):
            await task
    async with asyncio.timeout(WAIT):
        await rig.sink.gone.wait()
    with pytest.raises(ModemDisconnected):
        await rig.engine.command("AT", seconds=WAIT)


async def test_garbage_and_overlong_lines_are_survived_and_counted(rig: EngineRig) -> None:
    rig.peer.on(r"AT", b"\r\n\xff\xfe\x00\r\n" + b"X" * 5000 + b"\r\nOK\r\n")
    assert await rig.engine.command("AT", seconds=WAIT) == []  # a line of noise is no answer
    assert rig.engine.stats.garbage_bytes == 3
    assert (rig.engine.stats.noise_bytes, rig.engine.stats.noise_lines) == (3, 1)
    assert rig.engine.stats.overlong_lines == 1


async def test_unknown_unsolicited_lines_are_counted(rig: EngineRig) -> None:
    rig.peer.send(b"\r\nWHATEVER 1\r\n\r\nOK\r\n")  # the stray OK is dropped silently
    await until(lambda: rig.engine.stats.unknown_urcs == 1)
    assert await rig.engine.command("AT+CGMI", seconds=WAIT) == []


async def test_priority_lock_serves_the_highest_first() -> None:
    lock = PriorityLock()
    await lock.acquire(CommandPriority.SEND)
    order: list[str] = []

    async def take(name: str, priority: int) -> None:
        await lock.acquire(priority)
        order.append(name)
        lock.release()

    tasks = [
        asyncio.create_task(take("send", CommandPriority.SEND)),
        asyncio.create_task(take("health", CommandPriority.HEALTH)),
        asyncio.create_task(take("reset", CommandPriority.RESET)),
        asyncio.create_task(take("read", CommandPriority.READ)),
    ]
    await until(lambda: lock.waiting == 4)
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["reset", "health", "read", "send"]
    assert not lock.locked


async def test_priority_lock_cancelled_waiter_does_not_block() -> None:
    lock = PriorityLock()
    await lock.acquire(0)
    waiter = asyncio.create_task(lock.acquire(5))
    await until(lambda: lock.waiting == 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    lock.release()
    async with asyncio.timeout(WAIT):
        await lock.acquire(0)
