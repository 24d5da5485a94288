"""Line noise: stray bytes 0x80-0xFF ahead of lines (a bad cable, a UART at the wrong speed).

Noise must never stand in for a PDU line, the reader resynchronises on the next line that
parses, a slot whose PDU does not decode is read once more, and the noise is counted.
"""

from __future__ import annotations

from pathlib import Path

from drivers import replies
from drivers.lines import PROMPT, LineSplitter
from drivers.modem import Modem
from drivers.types import InboundMessage
from tests.drivers.conftest import WAIT, ScriptedPeer, fast_settings, next_event, ok, until
from tests.drivers.test_modem import OTHER, inbound, ready, running

DELIVER = "07911326040000F0040B911346610089F60000208062917314080CC8329BFD065DDF72363904"


def test_noise_ahead_of_a_line_is_dropped_and_counted() -> None:
    splitter = LineSplitter()
    items = splitter.feed(b'\r\n\x9a\xf3+CMTI: "SM",3\r\n\xff\xfe\xc3\r\n\r\nOK\r\n')
    assert items == ['+CMTI: "SM",3', "OK"]
    assert (splitter.noise_bytes, splitter.noise_lines) == (5, 1)


def test_noise_ahead_of_the_prompt_still_gives_the_prompt() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"\r\n\xa5\xa5> ") == [PROMPT]
    assert splitter.noise_bytes == 2


def test_a_noise_line_between_header_and_pdu_is_skipped() -> None:
    lines = ["+CMGR: 0,,24", "\ufffd\ufffd", DELIVER]
    assert replies.read_pdu(lines) == DELIVER
    listing = ["+CMGL: 1,0,,24", "\ufffd", DELIVER, "+CMGL: 2,0,,24", "+CMGL: 3,0,,24", DELIVER]
    assert replies.listed(listing) == [(1, 0, DELIVER), (3, 0, DELIVER)]


async def test_noise_line_before_the_pdu_of_a_read_is_not_the_pdu(peer: ScriptedPeer) -> None:
    peer.on(r"AT\+CPIN\?", ok("+CPIN: READY"))
    peer.on(
        r"AT\+CMGR=4", b"\r\n+CMGR: 0,,24\r\n\xf3\x9a\x80\r\n" + DELIVER.encode() + b"\r\n" + ok()
    )
    modem = Modem(fast_settings(peer.path, sweep_interval=60.0))
    await modem.start()
    try:
        await modem.wait_ready(WAIT)
        await peer.wait_command("AT+CMGL")
        peer.send(b'\r\n+CMTI: "SM",4\r\n')
        event = await next_event(modem, InboundMessage)
        assert isinstance(event, InboundMessage)
        assert event.deliver.text == "Hello World!"
        assert modem.stats.noise_bytes == 3
        assert modem.stats.noise_lines == 1
        assert (await modem.health()).noise_lines == 1
    finally:
        await modem.stop()


async def test_a_slot_whose_pdu_does_not_decode_is_read_once_more(peer: ScriptedPeer) -> None:
    answers = [
        ok("+CMGR: 0,,24", DELIVER[:30]),  # cut short by the noise
        ok("+CMGR: 0,,24", DELIVER),
    ]
    peer.on(r"AT\+CPIN\?", ok("+CPIN: READY"))
    peer.on(r"AT\+CMGR=2", lambda _: answers.pop(0) if answers else ok())
    modem = Modem(fast_settings(peer.path, sweep_interval=60.0))
    await modem.start()
    try:
        await modem.wait_ready(WAIT)
        await peer.wait_command("AT+CMGL")
        peer.send(b'\r\n+CMTI: "SM",2\r\n')
        event = await next_event(modem, InboundMessage)
        assert isinstance(event, InboundMessage)
        assert event.deliver.text == "Hello World!"
        assert peer.commands.count("AT+CMGR=2") == 2
        assert modem.stats.pdu_rereads == 1
    finally:
        await modem.stop()


async def test_a_listed_pdu_that_does_not_decode_is_read_again(peer: ScriptedPeer) -> None:
    peer.on(r"AT\+CPIN\?", ok("+CPIN: READY"))
    peer.on(r"AT\+CMGL=4", ok("+CMGL: 7,0,,24", DELIVER[:-6]))
    peer.on(r"AT\+CMGR=7", ok("+CMGR: 0,,24", DELIVER))
    modem = Modem(fast_settings(peer.path, sweep_interval=60.0))
    await modem.start()
    try:
        event = await next_event(modem, InboundMessage)
        assert isinstance(event, InboundMessage)
        assert event.location is not None
        assert event.location.index == 7
        assert event.deliver.text == "Hello World!"
    finally:
        await modem.stop()


async def test_inbound_survives_noise_on_half_the_lines(sim_path: Path) -> None:
    async with running(sim_path) as (sim, modem):
        await ready(modem)
        sim.set_noise(0.5, seed=11)
        texts = [f"message {i}" for i in range(20)]
        for text in texts:
            sim.deliver(OTHER, text)
        events = await inbound(modem, len(texts))
        assert sorted(e.deliver.text for e in events) == sorted(texts)
        await until(lambda: modem.stats.noise_bytes > 0)
        for event in events:
            assert event.location is not None
            await modem.delete(event.location)
        assert sim.memories["ME"].used == 0
