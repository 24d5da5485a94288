"""Faults: hangs, lost answers, unplug and replug, reset, Huawei noise."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.pdu import encode
from drivers.simulator import SimulatedModem
from tests.simulator.conftest import RawClient, booted

MakeSim = Callable[..., SimulatedModem]
OpenClient = Callable[[Path], RawClient]

NUMBER = "+15551230002"


async def test_hang_and_resume(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    sim.hang()
    client.write(b"AT\r")
    await client.assert_silent()
    sim.deliver(NUMBER, "stored, but no URC while hung")
    await client.assert_silent()
    sim.resume()
    assert await client.command("AT") == b"\r\nOK\r\n"


async def test_hang_mid_radio_time_loses_answer(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(radio_time=0.1, report_delay=None)
    client = await booted(sim, open_client)
    (segment,) = encode(NUMBER, "mid-send hang")
    await client.command(f"AT+CMGS={segment.tpdu_length}")
    client.write(segment.hex.encode() + b"\x1a")
    await sim.wait_sent(1, 1.0)  # accepted; the answer is due after the radio time
    sim.hang()
    await client.assert_silent(0.2)
    sim.resume()
    assert await client.command("AT") == b"\r\nOK\r\n"  # the +CMGS answer stays lost


async def test_hang_after_prompt(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(report_delay=None)
    client = await booted(sim, open_client)
    sim.hang_after_prompt()
    (segment,) = encode(NUMBER, "lost answer")
    assert await client.command(f"AT+CMGS={segment.tpdu_length}") == b"\r\n> "
    client.write(segment.hex.encode() + b"\x1a")
    (record,) = await sim.wait_sent(1, 1.0)
    assert not record.answered
    await client.assert_silent()
    assert await client.command("AT") == b"\r\nOK\r\n"  # the modem itself is alive
    answer = await client.command(f"AT+CMGS={segment.tpdu_length}")
    client.write(segment.hex.encode() + b"\x1a")
    assert answer == b"\r\n> "
    assert await client.command_answer() == b"\r\n+CMGS: 1\r\n\r\nOK\r\n"


async def test_vanish_then_reappear(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    old_target = sim.path.readlink()
    await sim.vanish()
    await client.wait_closed()
    assert not sim.path.exists()
    sim.deliver(NUMBER, "arrives while unplugged")
    assert sim.pending == 1
    await sim.reappear()
    assert sim.path.is_symlink()
    fresh = open_client(sim.path)
    await fresh.expect(b"SMS DONE\r\n")
    assert await fresh.command("AT") == b"AT\r\r\nOK\r\n"  # echo is back on after boot
    assert sim.pending == 0
    assert sim.memories["ME"].used == 1
    assert sim.path.readlink() != old_target or sim.path.exists()


async def test_vanish_for(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    await sim.vanish_for(0.01)
    await client.wait_closed()
    fresh = open_client(sim.path)
    assert (await fresh.command("AT")).endswith(b"\r\nOK\r\n")


async def test_cfun_reset_reenumerates(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(reset_time=0.02)
    client = await booted(sim, open_client)
    await client.command("ATE1")
    with contextlib.suppress(EOFError):  # as on a real modem, the port may drop before its OK
        assert await client.command("AT+CFUN=1,1") == b"AT+CFUN=1,1\r\r\nOK\r\n"
    await client.wait_closed()
    # The link may still name the dying pty for a moment: open again until the new one
    # answers, within a deadline (what a driver's reopen loop does).
    async with asyncio.timeout(2.0):
        while True:
            await sim.wait_ready(1.0)
            fresh = open_client(sim.path)
            try:
                answer = await fresh.command("AT")
            except EOFError:
                continue
            break
    assert answer.endswith(b"\r\nOK\r\n")


async def test_huawei_noise_until_curc_0(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(profile="huawei", noise_interval=0.01)
    client = await booted(sim, open_client)
    await client.expect(b"^RSSI:20\r\n", 1.0)
    assert await client.command("AT+NOPE") == b"\r\nCOMMAND NOT SUPPORT\r\n"
    assert await client.command("AT^CURC=0") == b"\r\nOK\r\n"
    await client.assert_silent(0.1)
    assert b"^CURC: 0" in await client.command("AT^CURC?")


async def test_stop_removes_link(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    await sim.stop()
    await client.wait_closed()
    assert not sim.path.exists()
    assert not sim.path.is_symlink()


async def test_client_reopen_does_not_hang_up(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    first = await booted(sim, open_client)
    first.close()
    second = open_client(sim.path)
    assert await second.command("AT") == b"\r\nOK\r\n"


async def test_command_fault_burst(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    sim.fail_command("AT+CPMS", "+CME ERROR: 14", count=2)
    assert await client.command('AT+CPMS="ME"') == b"\r\n+CME ERROR: 14\r\n"
    assert await client.command("AT+CSQ") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    assert await client.command('AT+CPMS="ME"') == b"\r\n+CME ERROR: 14\r\n"
    assert (await client.command('AT+CPMS="ME"')).endswith(b"\r\nOK\r\n")


async def test_prompt_variants_and_urc_before_prompt(
    make_sim: MakeSim, open_client: OpenClient
) -> None:
    sim = make_sim(report_delay=None)
    client = await booted(sim, open_client)
    (segment,) = encode(NUMBER, "prompt")
    sim.before_prompt('+CMTI: "ME",1')
    sim.set_prompt(b"\r\n>")
    client.write(f"AT+CMGS={segment.tpdu_length}\r".encode())
    assert await client.expect(b">") == b'\r\n+CMTI: "ME",1\r\n\r\n>'
    client.write(segment.hex.encode() + b"\x1a")
    assert await client.command_answer() == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    sim.set_prompt(b"")
    client.write(f"AT+CMGS={segment.tpdu_length}\r".encode())
    await client.assert_silent()
    client.write(segment.hex.encode() + b"\x1a")  # a blind write still works
    assert await client.command_answer() == b"\r\n+CMGS: 1\r\n\r\nOK\r\n"


async def test_pin_locks_again_after_replug(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(pin="4321")
    await sim.start()
    client = open_client(sim.path)
    await client.expect(b"+CPIN: SIM PIN\r\n")
    assert (await client.command('AT+CPIN="4321"')).endswith(b"OK\r\n")
    await sim.vanish_for(0.0)
    fresh = open_client(sim.path)
    await fresh.expect(b"+CPIN: SIM PIN\r\n")


async def test_pyserial_client_sees_unplug(make_sim: MakeSim) -> None:
    """The port as a driver opens it (pyserial-asyncio-fast), including the unplug error."""
    import serial
    import serial_asyncio_fast

    sim = make_sim(profile="simcom")
    await sim.start()
    await sim.wait_ready(1.0)
    reader, writer = await serial_asyncio_fast.open_serial_connection(
        url=str(sim.path), baudrate=115200, exclusive=True
    )
    try:
        writer.write(b"AT+CGMM\r")
        async with asyncio.timeout(2.0):
            answer = await reader.readuntil(b"OK\r\n")
        assert answer.endswith(b"\r\nSIMCOM_SIM800L\r\n\r\nOK\r\n")
        await sim.vanish()
        with pytest.raises(serial.SerialException):
            async with asyncio.timeout(2.0):
                await reader.read(100)
    finally:
        writer.close()


async def test_line_ending_variant(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    sim.set_line_ending("\r\r\n")
    client.write(b"AT+CSQ\r")
    assert await client.expect(b"OK\r\r\n") == b"\r\n+CSQ: 20,99\r\r\n\r\nOK\r\r\n"
