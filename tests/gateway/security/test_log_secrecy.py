"""What aiohttp itself logs about a request it could not parse holds no request line.

A client that builds ``/cgi-bin/sendsms?to=%2B1...&text=Chest pain`` without encoding
the space gets a 400 from aiohttp's parser, which logs the error at ERROR with the raw
request line in its text: the number URL-encoded, the message text in clear.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from gateway.http.access_log import AccessLog
from gateway.logs import mask_phone_numbers

NUMBER = "15557654321"
TEXT = "Chest pain since Tuesday"
READ_LIMIT = 4096  # bytes of the 400 answer read back


@pytest.fixture
async def server() -> AsyncIterator[int]:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/cgi-bin/sendsms", ok)
    runner = web.AppRunner(app, access_log_class=AccessLog, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def send_raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(5):
            answer = await reader.read(READ_LIMIT)
            # aiohttp closes the connection after a parse error, once its access log is written
            while await reader.read(READ_LIMIT):
                pass
            return answer
    finally:
        writer.close()
        await writer.wait_closed()


BAD_REQUESTS = [
    pytest.param(
        f"GET /cgi-bin/sendsms?to=%2B{NUMBER}&text={TEXT} HTTP/1.1\r\nHost: x\r\n\r\n",
        id="unencoded space in the query",
    ),
    pytest.param(
        f"GET /cgi-bin/sendsms?to=%2B{NUMBER}&text={TEXT.replace(' ', '+')}\x00 HTTP/1.1\r\n\r\n",
        id="control character in the query",
    ),
    pytest.param(
        f"GET /cgi-bin/sendsms HTTP/1.1\r\nHost: x\r\nX-Note: {TEXT} {NUMBER}{'a' * 9000}\r\n\r\n",
        id="header too long",
    ),
]


@pytest.mark.parametrize("raw", BAD_REQUESTS)
async def test_a_request_aiohttp_cannot_parse_is_logged_without_its_content(
    server: int, captured: io.StringIO, raw: str
) -> None:
    answer = await send_raw(server, raw.encode("latin-1"))
    status_line = answer.split(b"\r\n", 1)[0]
    assert b" 400 " in status_line, answer
    log = captured.getvalue()
    assert "aiohttp.server" in log, log  # the failure itself is still recorded
    assert NUMBER[3:] not in log, log
    assert "Chest" not in log, log
    assert "AssertionError" not in log, log  # the access log copes with unrouted requests
    assert "aiohttp.access" in log, log  # and the access log still has its line


def test_the_backstop_masks_a_url_encoded_number() -> None:
    masked = mask_phone_numbers(f"to=%2B{NUMBER}&to=%2b{NUMBER}")
    assert NUMBER[2:-2] not in masked, masked
