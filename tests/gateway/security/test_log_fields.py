"""What a log line may hold: no forged lines, no control bytes, and counts left alone.

A request path is attacker-chosen: ``%0A`` decoded into the access log would start a
second, forged record, and ``%00`` would write a NUL byte into the file. The number
masker is a backstop for phone numbers, so it must not eat a count of a million.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from gateway.http.access_log import AccessLog


@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = web.Application()
    runner = web.AppRunner(app, access_log_class=AccessLog, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def get(port: int, target: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    await reader.read()
    writer.close()
    await writer.wait_closed()


async def test_a_newline_in_the_path_cannot_forge_a_log_line(
    port: int, captured: io.StringIO
) -> None:
    forged = "%0A2026-12-03 10:00:00,000 INFO    gateway.audit: key admin granted"
    await get(port, "/nowhere" + forged.replace(" ", "%20"))
    await get(port, "/nul%00byte")
    out = captured.getvalue()
    lines = [line for line in out.splitlines() if "nowhere" in line or "gateway.audit" in line]
    assert len(lines) == 1, out
    assert "\\n" in lines[0] or "\\x0a" in lines[0], lines[0]
    assert "\x00" not in out
    assert "nul\\x00byte" in out or "nul\\0byte" in out, out


def test_control_characters_in_arguments_and_extras_are_escaped(captured: io.StringIO) -> None:
    logging.getLogger("t").warning("modem said %s", "OK\r\nERROR\x1b[2J", extra={"why": "a\nb"})
    out = captured.getvalue()
    assert out.count("\n") == 1, repr(out)
    assert "\x1b" not in out
    assert "\r" not in out
    assert "why=a\\nb" in out, out


def test_a_traceback_stays_recognisable_and_cannot_start_a_record(captured: io.StringIO) -> None:
    try:
        raise ValueError("bad\n2026-12-03 10:00:00,000 INFO    forged: line")
    except ValueError:
        logging.getLogger("t").exception("failed")
    lines = captured.getvalue().splitlines()
    assert "failed" in lines[0]
    assert all(line.startswith((" ", "\t")) for line in lines[1:]), lines
    assert any("ValueError" in line for line in lines[1:])


def test_counts_are_not_masked_as_phone_numbers(captured: io.StringIO) -> None:
    logging.getLogger("t").info("queue rebuilt: %d message(s), %s bytes", 1_000_000, 36_000_000)
    out = captured.getvalue()
    assert "1000000 message(s)" in out, out
    assert "36000000 bytes" in out, out


def test_a_number_in_a_string_argument_is_still_masked(captured: io.StringIO) -> None:
    logging.getLogger("t").info("sent to %s (%d tries)", "+15551234567", 1234567)
    out = captured.getvalue()
    assert "5551234" not in out.replace("1234567 tries", ""), out
    assert "1234567 tries" in out, out


def test_counts_sizes_and_times_in_text_are_not_masked(captured: io.StringIO) -> None:
    """A figure already in the text (a message formatted by the caller, an exception's
    text, an extra) is a count, size, duration or timestamp unless it reads as a number."""
    logging.getLogger("t").info(
        "queue rebuilt: 1000000 message(s) in 1234567 ms; db 104857600 bytes at "
        "1733250000.25; count=2500000; took 9876543 us",
        extra={"rows": "3000000"},
    )
    out = captured.getvalue()
    for kept in (
        "1000000 message(s)",
        "1234567 ms",
        "104857600 bytes",
        "1733250000.25",
        "count=2500000",
        "9876543 us",
        "rows=3000000",
    ):
        assert kept in out, (kept, out)
    assert "•" not in out, out


def test_a_bare_number_in_text_is_still_masked(captured: io.StringIO) -> None:
    logging.getLogger("t").info("sent to 15551234567 via 5551234 (to=4915112345678)")
    out = captured.getvalue()
    for digits in ("15551234567", "5551234", "4915112345678"):
        assert digits not in out, out
