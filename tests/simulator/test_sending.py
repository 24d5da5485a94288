"""AT+CMGS over the pty: prompt, MR, records, errors, status reports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from drivers.pdu import StatusReport, decode, encode
from drivers.simulator import SimulatedModem
from tests.simulator.conftest import RawClient, booted, poll_until

MakeSim = Callable[..., SimulatedModem]
OpenClient = Callable[[Path], RawClient]

NUMBER = "+15551230001"


async def send(client: RawClient, pdu_hex: str, length: int) -> bytes:
    assert await client.command(f"AT+CMGS={length}") == b"\r\n> "
    client.write(pdu_hex.encode() + b"\x1a")
    return await client.command_answer()


async def test_cmgs_happy_path(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(report_delay=None)
    client = await booted(sim, open_client)
    (segment,) = encode(NUMBER, "Your appointment is at 10:30.", request_report=True)
    answer = await send(client, segment.hex, segment.tpdu_length)
    assert answer == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    (record,) = await sim.wait_sent(1, 1.0)
    assert record.reference == 0
    assert record.pdu_hex == segment.hex
    assert record.submit.recipient == NUMBER
    assert record.submit.text == "Your appointment is at 10:30."
    assert record.answered


async def test_multipart_send_and_radio_time(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(radio_time=0.02, report_delay=None)
    client = await booted(sim, open_client)
    segments = encode(NUMBER, "x" * 300)
    assert len(segments) == 2
    answers = [await send(client, s.hex, s.tpdu_length) for s in segments]
    assert answers == [b"\r\n+CMGS: 0\r\n\r\nOK\r\n", b"\r\n+CMGS: 1\r\n\r\nOK\r\n"]
    sent = await sim.wait_sent(2, 1.0)
    assert [m.submit.concat.sequence for m in sent if m.submit.concat] == [1, 2]


async def test_commands_wait_during_radio_time(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(radio_time=0.1, report_delay=None)
    client = await booted(sim, open_client)
    (segment,) = encode(NUMBER, "hi")
    await client.command(f"AT+CMGS={segment.tpdu_length}")
    client.write(segment.hex.encode() + b"\x1aAT+CSQ\r")
    answer = await client.expect(b"+CSQ: 20,99\r\n\r\nOK\r\n")
    assert answer.index(b"+CMGS: 0") < answer.index(b"+CSQ")


async def test_mr_wraps_at_255(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(report_delay=None)
    client = await booted(sim, open_client)
    sim.set_next_reference(254)
    (segment,) = encode(NUMBER, "wrap")
    for expected in (254, 255, 0, 1):
        answer = await send(client, segment.hex, segment.tpdu_length)
        assert answer == f"\r\n+CMGS: {expected}\r\n\r\nOK\r\n".encode()
    assert [m.reference for m in sim.sent] == [254, 255, 0, 1]


async def test_cms_error_fault_then_recovery(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(report_delay=None)
    client = await booted(sim, open_client)
    (segment,) = encode(NUMBER, "fail me")
    sim.fail_sends(500, count=2)
    assert await send(client, segment.hex, segment.tpdu_length) == b"\r\n+CMS ERROR: 500\r\n"
    assert await send(client, segment.hex, segment.tpdu_length) == b"\r\n+CMS ERROR: 500\r\n"
    assert await send(client, segment.hex, segment.tpdu_length) == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    assert len(sim.sent) == 1


async def test_wrong_length_and_bad_pdu_give_304(
    make_sim: MakeSim, open_client: OpenClient
) -> None:
    sim = make_sim(report_delay=None)
    client = await booted(sim, open_client)
    (segment,) = encode(NUMBER, "length")
    assert await send(client, segment.hex, segment.tpdu_length + 1) == b"\r\n+CMS ERROR: 304\r\n"
    assert await send(client, "00ZZ", 7) == b"\r\n+CMS ERROR: 304\r\n"
    assert await client.command("AT+CMGS=abc") == b"\r\n+CMS ERROR: 304\r\n"
    assert sim.sent == []


async def test_escape_cancels(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    assert await client.command("AT+CMGS=20") == b"\r\n> "
    client.write(b"0011\x1b")
    assert await client.command_answer() == b"\r\nOK\r\n"
    assert await client.command("AT") == b"\r\nOK\r\n"
    assert sim.sent == []


async def test_not_registered_gives_331(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim()
    client = await booted(sim, open_client)
    sim.set_registration(0)
    (segment,) = encode(NUMBER, "no service")
    assert await send(client, segment.hex, segment.tpdu_length) == b"\r\n+CMS ERROR: 331\r\n"


async def test_status_report_stored_cdsi(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(report_delay=0.0)
    client = await booted(sim, open_client)
    await client.command("AT+CNMI=2,1,0,2,0")
    sim.set_report_status(NUMBER, 0x46)
    (segment,) = encode(NUMBER, "report please", request_report=True)
    await send(client, segment.hex, segment.tpdu_length)
    await client.expect(b'+CDSI: "SR",1\r\n')
    await client.command('AT+CPMS="SR"')
    listing = await client.command("AT+CMGL=4")
    header, pdu_line = listing.strip().split(b"\r\n")[:2]
    assert header.startswith(b"+CMGL: 1,0,,")
    report = decode(pdu_line.decode())
    assert isinstance(report, StatusReport)
    assert report.reference == 0
    assert report.status == 0x46
    assert report.recipient == NUMBER
    assert await client.command("AT+CMGD=1") == b"\r\nOK\r\n"
    assert sim.memories["SR"].used == 0


async def test_status_report_routed_cds_and_cnma(
    make_sim: MakeSim, open_client: OpenClient
) -> None:
    sim = make_sim(profile="simcom", report_delay=0.0)
    client = await booted(sim, open_client)
    await client.command("AT+CMEE=1")
    assert b"(0,1),(0,1)" in await client.command("AT+CNMI=?")
    assert b"+CMS ERROR: 303" in await client.command("AT+CNMI=2,1,0,2,0")  # SIM800: no ds=2
    await client.command("AT+CSMS=1")
    await client.command("AT+CNMI=2,1,0,1,0")
    (segment,) = encode(NUMBER, "routed report", request_report=True)
    await send(client, segment.hex, segment.tpdu_length)
    header = await client.expect(b"\r\n", within=1.0)
    header += await client.expect(b"\r\n")
    assert header.startswith(b"\r\n+CDS: ")
    length = int(header.split(b": ")[1])
    pdu_line = (await client.expect(b"\r\n")).strip()
    report = decode(pdu_line.decode())
    assert isinstance(report, StatusReport)
    assert len(pdu_line) // 2 - 1 - int(pdu_line[:2], 16) == length
    assert await client.command("AT+CNMA") == b"\r\nOK\r\n"
    assert await client.command("AT+CNMA") == b"\r\n+CMS ERROR: 340\r\n"


async def test_missing_cnma_stops_routing(make_sim: MakeSim, open_client: OpenClient) -> None:
    sim = make_sim(report_delay=0.0)
    sim.set_ack_timeout(0.01)
    client = await booted(sim, open_client)
    await client.command("AT+CSMS=1")
    await client.command("AT+CNMI=2,2,0,1,0")
    sim.deliver("+15550001111", "first")
    await client.expect(b"+CMT: ,")
    await poll_until(lambda: sim.settings.cnmi == [2, 0, 0, 0, 0], 1.0)
    assert await client.command("AT+CNMA") == b"\r\n+CMS ERROR: 340\r\n"
    sim.deliver("+15550001111", "second")  # stored silently now: mt=0
    await client.assert_silent()
    assert sim.memories["ME"].used == 1


async def test_send_times_stamp_each_command_and_answer(
    make_sim: MakeSim, open_client: OpenClient
) -> None:
    """What bench/dispatch.py reads the dead time between sends from."""
    sim = make_sim(report_delay=None)
    client = await booted(sim, open_client)
    assert await client.command("AT") == b"\r\nOK\r\n"  # before time_sends(): not stamped
    stamps = sim.time_sends()
    (segment,) = encode(NUMBER, "stamped")
    for _ in range(2):
        await send(client, segment.hex, segment.tpdu_length)
    assert await client.command("AT") == b"\r\nOK\r\n"  # not a send: not stamped
    assert [kind for _, kind in stamps] == ["command", "answer", "command", "answer"]
    times = [at for at, _ in stamps]
    assert times == sorted(times)
