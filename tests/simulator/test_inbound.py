"""Inbound SMS: +CMTI storage, reading, deleting, multipart, +CMT routing, full storage."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.pdu import Deliver, decode
from drivers.simulator import SimulatedModem
from tests.simulator.conftest import RawClient, booted

MakeSim = Callable[..., SimulatedModem]
OpenClient = Callable[[Path], RawClient]

SENDER = "+15557770001"
CMTI = re.compile(rb'\+CMTI: "(\w+)",(\d+)\r\n')


def pdu_of(answer: bytes) -> Deliver:
    lines = [line for line in answer.split(b"\r\n") if line]
    decoded = decode(lines[1].decode())
    assert isinstance(decoded, Deliver)
    return decoded


async def test_cmti_then_cmgr_then_cmgd(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    await client.command("AT+CNMI=2,1,0,2,0")
    sim.deliver(SENDER, "Can I move my visit?")
    urc = await client.expect(b"\r\n", within=1.0) + await client.expect(b"\r\n")
    match = CMTI.search(urc)
    assert match is not None
    assert match.group(1) == b"ME"
    index = int(match.group(2))
    answer = await client.command(f"AT+CMGR={index}")
    assert answer.startswith(b"\r\n+CMGR: 0,,")
    message = pdu_of(answer)
    assert (message.sender, message.text) == (SENDER, "Can I move my visit?")
    assert (await client.command(f"AT+CMGR={index}")).startswith(b"\r\n+CMGR: 1,,")  # now read
    start = len(sim.commands)
    assert await client.command(f"AT+CMGD={index}") == b"\r\nOK\r\n"
    assert await sim.wait_command("AT+CMGD=", 1.0, start=start) == f"AT+CMGD={index}"
    assert await client.command(f"AT+CMGR={index}") == b"\r\nOK\r\n"  # empty slot
    assert sim.memories["ME"].used == 0


async def test_multipart_out_of_order(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    await client.command("AT+CNMI=2,1,0,2,0")
    text = "Follow-up: " + "please bring your test results. " * 12
    sim.deliver(SENDER, text, shuffle=True)
    await client.wait_for(lambda b: len(CMTI.findall(b)) >= 3, 1.0)
    indices = [int(i) for _, i in CMTI.findall(bytes(client.buf))]
    client.buf.clear()
    parts = [pdu_of(await client.command(f"AT+CMGR={i}")) for i in indices]
    concats = [p.concat for p in parts]
    assert all(c is not None for c in concats)
    sequences = [c.sequence for c in concats if c is not None]
    assert sorted(sequences) == list(range(1, len(parts) + 1))
    assert sequences != sorted(sequences)
    assert len({c.reference for c in concats if c is not None}) == 1
    by_seq = sorted(parts, key=lambda p: p.concat.sequence if p.concat else 0)
    assert "".join(p.text for p in by_seq) == text


async def test_multipart_16_bit_reference(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    await client.command("AT+CNMI=2,1,0,2,0")
    sim.deliver(SENDER, "Ünïcode reply 😀 " * 6, concat_reference=0x1234)
    await client.wait_for(lambda b: len(CMTI.findall(b)) >= 2, 1.0)
    client.buf.clear()
    first = pdu_of(await client.command("AT+CMGR=1"))
    assert first.concat is not None
    assert (first.concat.reference, first.concat.bits) == (0x1234, 16)


async def test_cmgl_lists_and_marks_read(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    assert sim.preload(SENDER, "while you were away") == [1]
    client = await booted(sim, open_client)
    listing = await client.command("AT+CMGL=0")
    assert listing.startswith(b"\r\n+CMGL: 1,0,,")
    assert pdu_of(listing).text == "while you were away"
    assert await client.command("AT+CMGL=0") == b"\r\nOK\r\n"
    assert (await client.command("AT+CMGL=4")).startswith(b"\r\n+CMGL: 1,1,,")
    assert await client.command("AT+CMGD=1,4") == b"\r\nOK\r\n"
    assert await client.command("AT+CMGL=4") == b"\r\nOK\r\n"


async def test_routed_cmt(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    await client.command("AT+CNMI=2,2,0,0,0")
    sim.deliver(SENDER, "direct")
    header = await client.expect(b"\r\n", 1.0) + await client.expect(b"\r\n")
    assert re.fullmatch(rb"\r\n\+CMT: ,\d+\r\n", header)
    pdu_line = (await client.expect(b"\r\n")).strip()
    decoded = decode(pdu_line.decode())
    assert isinstance(decoded, Deliver)
    assert decoded.text == "direct"
    assert sim.memories["ME"].used == 0
    assert await client.command("AT+CNMA") == b"\r\n+CMS ERROR: 340\r\n"  # CSMS=0: no ack


async def test_storage_full_holds_until_delete(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(storage_capacity=3)
    client = await booted(sim, open_client)
    await client.command("AT+CNMI=2,1,0,2,0")
    assert sim.fill_storage() == 3
    assert pdu_of(await client.command("AT+CMGR=2")).text  # valid dummy content
    sim.deliver(SENDER, "held by the network")
    await client.assert_silent()
    assert sim.pending == 1
    assert await client.command("AT+CMGD=2") == b"\r\nOK\r\n"
    urc = await client.expect(b"\r\n", 1.0) + await client.expect(b"\r\n")
    assert urc == b'\r\n+CMTI: "ME",2\r\n'
    assert sim.pending == 0
    assert pdu_of(await client.command("AT+CMGR=2")).text == "held by the network"


async def test_huawei_indices_from_zero(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(profile="huawei")
    client = await booted(sim, open_client)
    await client.command("AT^CURC=0")
    await client.command("AT+CMEE=1")
    await client.command("AT+CNMI=2,1,0,2,0")
    sim.deliver(SENDER, "zero")
    await client.expect(b'+CMTI: "SM",0\r\n', 1.0)
    assert b"+CMS ERROR" in await client.command("AT+CMGR=1")  # empty slot: 321 on Huawei


async def test_direct_delivery_and_no_phi_in_logs(
    make_sim: MakeSim, open_client: OpenClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="drivers.simulator")
    sim = make_sim()
    client = await booted(sim, open_client)
    await client.command("AT+CNMI=2,1,0,2,0")
    sim.deliver(SENDER, "Private result text", direct=True)
    await client.expect(b"+CMT: ,", 1.0)
    assert sim.memories["ME"].used == 0
    assert SENDER not in caplog.text
    assert SENDER.lstrip("+") not in caplog.text
    assert "Private result" not in caplog.text
