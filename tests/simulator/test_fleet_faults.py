"""Faults real modems show in the field: noise, a prompt left open, registration changes,
late answers, output in small pieces, and the Wavecom dialect."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.pdu import encode
from drivers.simulator import SimulatedModem
from tests.simulator.conftest import RawClient, booted

MakeSim = Callable[..., SimulatedModem]
OpenClient = Callable[[Path], RawClient]

NUMBER = "+15551230002"


async def test_noise_bytes_before_lines(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    sim.set_noise(1.0, seed=5)
    client.buf.clear()
    client.write(b"AT+CSQ\r")
    answer = await client.wait_for(lambda b: _clean(b).endswith(b"OK\r\n"), 2.0)
    assert any(b >= 0x80 for b in answer)
    assert b"+CSQ: 20,99" in _clean(answer)
    sim.set_noise(0.0)
    assert await client.command("AT") == b"\r\nOK\r\n"


def _clean(data: bytes) -> bytes:
    return bytes(b for b in data if b < 0x80)


async def test_noise_is_reproducible_with_a_seed(
    make_sim: MakeSim, open_client: OpenClient
) -> None:
    outputs = []
    for _ in range(2):
        sim = make_sim()
        client = await booted(sim, open_client)
        sim.set_noise(0.5, seed=9)
        answers = []
        for _ in range(5):
            client.buf.clear()
            client.write(b"AT+CSQ\r")
            answers.append(await client.wait_for(lambda b: _clean(b).endswith(b"OK\r\n"), 2.0))
        outputs.append(answers)
        await sim.stop()
    assert outputs[0] == outputs[1]


def prompt_open(sim: SimulatedModem) -> bool:
    """Read through a call, so the type checker does not keep a narrowed property."""
    return sim.at_prompt


async def test_left_at_the_prompt_swallows_input_until_escape(
    make_sim: MakeSim, open_client: OpenClient
) -> None:
    sim = make_sim(report_delay=None)
    client = await booted(sim, open_client)
    sim.leave_at_prompt()
    assert sim.at_prompt is True
    client.write(b"AT\r")
    await client.assert_silent()
    client.write(b"\x1b")
    assert await client.command_answer() == b"\r\nOK\r\n"
    assert not prompt_open(sim)
    assert await client.command("AT") == b"\r\nOK\r\n"
    assert sim.sent == []


async def test_left_at_the_prompt_ctrl_z_sends_the_junk(
    make_sim: MakeSim, open_client: OpenClient
) -> None:
    sim = make_sim(report_delay=None)
    client = await booted(sim, open_client)
    sim.leave_at_prompt()
    client.write(b"AT+CFUN=1,1\r\x1a")
    assert await client.command_answer() == b"\r\n+CMS ERROR: 304\r\n"
    assert await client.command("AT") == b"\r\nOK\r\n"


async def test_started_at_the_prompt(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(at_prompt=True)
    await sim.start()
    await sim.wait_ready(1.0)
    client = open_client(sim.path)
    client.write(b"AT\r")
    await client.assert_silent()
    client.write(b"\x1b")
    assert (await client.command_answer()).endswith(b"OK\r\n")


async def test_registration_lost_denied_and_back(
    make_sim: MakeSim, open_client: OpenClient
) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    await client.command("AT+CREG=1")
    await client.command("AT+CEREG=1")
    sim.lose_registration()
    await client.expect(b"+CREG: 0\r\n")
    await client.expect(b"+CEREG: 0\r\n")
    assert b"+CREG: 1,0" in await client.command("AT+CREG?")
    sim.deny_registration()
    await client.expect(b"+CEREG: 3\r\n")
    assert b"+CEREG: 1,3" in await client.command("AT+CEREG?")
    (segment,) = encode(NUMBER, "no network")
    await client.command(f"AT+CMGS={segment.tpdu_length}")
    client.write(segment.hex.encode() + b"\x1a")
    assert await client.command_answer() == b"\r\n+CMS ERROR: 331\r\n"
    sim.restore_registration()
    await client.expect(b"+CREG: 1\r\n")
    assert b"+CREG: 1,1" in await client.command("AT+CREG?")


async def test_registration_searching_then_registered(
    make_sim: MakeSim, open_client: OpenClient
) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    await client.command("AT+CREG=1")
    sim.lose_registration(searching=True)
    await client.expect(b"+CREG: 2\r\n")
    sim.restore_registration(roaming=True)
    await client.expect(b"+CREG: 5\r\n")


async def test_answer_after_its_deadline(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    sim.answer_late("AT+CSQ", 0.2)
    client.write(b"AT+CSQ\r")
    await client.assert_silent(0.1)
    assert b"+CSQ: 20,99" in await client.command_answer(1.0)
    assert await client.command("AT+CSQ") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"  # once only


async def test_late_answer_keeps_later_commands_in_order(
    make_sim: MakeSim, open_client: OpenClient
) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    sim.answer_late("AT+CGMM", 0.1)
    client.write(b"AT+CGMM\rAT+CGMI\r")
    got = await client.wait_for(lambda b: b.count(b"OK\r\n") == 2, 1.0)
    assert got.index(sim.profile.model.encode()) < got.index(sim.profile.manufacturer.encode())


async def test_output_split_into_small_writes(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    sim.split_output(3)
    reads: list[int] = []
    original = client._readable

    def counting() -> None:
        before = len(client.buf)
        original()
        reads.append(len(client.buf) - before)

    client._loop.remove_reader(client.fd)
    client._loop.add_reader(client.fd, counting)
    assert (
        await client.command("AT+CGMI") == f"\r\n{sim.profile.manufacturer}\r\n\r\nOK\r\n".encode()
    )
    assert len(reads) >= 3  # six pieces; a slow reader may take two at once
    assert min(reads) <= 3
    sim.split_output(None)
    assert await client.command("AT") == b"\r\nOK\r\n"


async def test_wavecom_dialect(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(profile="wavecom")
    client = await booted(sim, open_client)
    assert await client.command("AT+CGMI") == b"\r\n WAVECOM MODEM\r\n\r\nOK\r\n"
    assert (await client.command("AT+CGMM")).startswith(b"\r\n MULTIBAND")
    client.buf.clear()
    client.write(b"AT+CPIN?\r")
    assert await client.expect(b"+CPIN: READY\r\n") == b"\r\n+CPIN: READY\r\n"
    await client.assert_silent()  # no OK follows
    assert b'(("SM","BM","SR"),("SM"))' in await client.command("AT+CPMS=?")
    assert await client.command('AT+CPMS="SM","SM","SM"') == b"\r\nERROR\r\n"  # no <mem3>
    assert (await client.command('AT+CPMS="SM","SM"')).endswith(b"OK\r\n")


async def test_wavecom_is_busy_for_a_moment_after_cfun(
    make_sim: MakeSim, open_client: OpenClient
) -> None:
    sim = make_sim(profile="wavecom")
    client = await booted(sim, open_client)
    await client.command("AT+CMEE=1")
    assert await client.command("AT+CFUN=1") == b"\r\nOK\r\n"
    await client.expect(b"+WIND: 4\r\n")
    assert await client.command("AT+CGSN") == b"\r\n+CME ERROR: 515\r\n"
    assert await client.command("AT+CGSN") == b"\r\n+CME ERROR: 515\r\n"
    assert (await client.command("AT+CGSN")).endswith(b"OK\r\n")


def test_simulator_profiles_cover_every_driver_profile() -> None:
    from drivers.quirks import PROFILE_NAMES
    from drivers.simulator.profiles import PROFILE_TABLE, PROFILES

    assert set(PROFILE_NAMES) <= set(PROFILES)
    for profile in PROFILE_TABLE.values():
        assert profile.driver in PROFILE_NAMES


@pytest.mark.parametrize("probability", [-0.1, 1.5])
async def test_noise_probability_is_checked(make_sim: MakeSim, probability: float) -> None:
    sim = make_sim()
    with pytest.raises(ValueError, match="probability"):
        sim.set_noise(probability)
