"""Requests aiohttp's HTTP parser refuses answer in the API's JSON error shape, over a
raw socket (no client library would send them)."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.core.service import GatewayService
from gateway.http import start_api

OVERSIZED = "X-Big: " + "a" * 20_000

# (name, raw request, code)
CASES: list[tuple[str, bytes, str]] = [
    ("bad request line", b"GARBAGE\r\n\r\n", "malformed_request"),
    ("bad method", b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n", "malformed_request"),
    (
        "bad header",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        "malformed_request",
    ),
    (
        "header name with a space",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
        "malformed_request",
    ),
    (
        "oversized header",
        f"GET /healthz HTTP/1.1\r\nHost: x\r\n{OVERSIZED}\r\n\r\n".encode(),
        "header_too_large",
    ),
    (
        "oversized request line",
        b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "header_too_large",
    ),
]


async def _exchange(port: int, raw: bytes) -> tuple[str, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read()  # the server closes after a parser error
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status_line, headers, body


@pytest.mark.parametrize(("name", "raw", "code"), CASES, ids=[c[0] for c in CASES])
async def test_parser_errors_answer_in_the_json_error_shape(
    service: GatewayService, name: str, raw: bytes, code: str
) -> None:
    server = await start_api(service, "127.0.0.1", 0)
    try:
        status_line, headers, body = await _exchange(server.port, raw)
        assert status_line.split(" ")[1] == "400", (name, status_line)
        assert headers["content-type"].startswith("application/json")
        error = json.loads(body)["error"]
        assert error["code"] == code
        assert error["field"] is None
        assert isinstance(error["message"], str)
        assert error["message"]
        # The server is still up: a good request after the bad one works.
        status_line, _, body = await _exchange(
            server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert status_line.split(" ")[1] == "200", body
    finally:
        await server.stop()


async def test_parser_error_message_does_not_echo_the_request(service: GatewayService) -> None:
    """aiohttp's messages quote the offending bytes; a header may hold a number."""
    server = await start_api(service, "127.0.0.1", 0)
    try:
        raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Patient +15551234567\r\n\r\n"
        _, _, body = await _exchange(server.port, raw)
        assert b"5551234567" not in body
        assert json.loads(body)["error"]["code"] == "malformed_request"
    finally:
        await server.stop()
