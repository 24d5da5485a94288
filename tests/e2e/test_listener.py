"""The API listener against idle and slow clients, too many connections, and plain HTTP.

A few hundred sockets that send nothing must not stop a good request from answering,
and each is closed after ``header_timeout``; past ``max_connections`` a client gets a
503 in the JSON error shape; a non-loopback listener without TLS refuses to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time

from tests.e2e.conftest import Gateway
from tests.support import poll_until

IDLE_SOCKETS = 300
HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
CLOSE_WITHIN = 15.0  # seconds: the timeout plus slack for a loaded machine

Pair = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def restart_with(gw: Gateway, server_keys: str, *, host: str = "127.0.0.1") -> None:
    """Restart the daemon with extra ``[server]`` keys (the fixture writes the table)."""
    await gw.stop()
    text = gw.config_path.read_text()
    text = text.replace('host = "127.0.0.1"', f'host = "{host}"', 1)
    gw.config_path.write_text(text.replace("[server]\n", "[server]\n" + server_keys + "\n", 1))
    await gw.start()


def address(gw: Gateway) -> tuple[str, int]:
    host, port = gw.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent until it closed the connection."""
    async with asyncio.timeout(CLOSE_WITHIN):
        return await reader.read()


async def close_all(pairs: list[Pair]) -> None:
    for _, writer in pairs:
        writer.close()
    for _, writer in pairs:
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_idle_sockets_do_not_starve_requests_and_are_closed(gateway: Gateway) -> None:
    await restart_with(gateway, f"header_timeout = {HEADER_TIMEOUT}\nmax_connections = 1000")
    host, port = address(gateway)
    idle: list[Pair] = [await asyncio.open_connection(host, port) for _ in range(IDLE_SOCKETS)]
    slow = await asyncio.open_connection(host, port)  # headers begun, never finished
    slow[1].write(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")
    await slow[1].drain()
    try:
        started = time.monotonic()
        async with asyncio.timeout(1.0):
            status, _ = await gateway.request("GET", "/v1/modems")
        assert status == 200
        assert time.monotonic() - started < 1.0

        results = await asyncio.gather(*(closed_by_server(r) for r, _ in [*idle, slow]))
        assert all(data == b"" for data in results[:-1])  # closed without a word
        assert b"200" not in results[-1]  # the unfinished request was never served
        elapsed = time.monotonic() - started
        assert elapsed >= HEADER_TIMEOUT * 0.9  # not refused at once: timed out
        status, _ = await gateway.request("GET", "/readyz")
        assert status == 200
    finally:
        await close_all([*idle, slow])
    assert "Too many open files" not in gateway.log()


async def test_a_body_sent_too_slowly_gets_408(gateway: Gateway) -> None:
    await restart_with(gateway, f"body_timeout = {BODY_TIMEOUT}")
    host, port = address(gateway)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {gateway.token}\r\n".encode()
            + b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"to"'
        )
        await writer.drain()
        answer = await closed_by_server(reader)
    finally:
        await close_all([(reader, writer)])
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    assert json.loads(body)["error"]["code"] == "request_timeout"


async def status_line(pair: Pair) -> bytes:
    """Send a kept-alive request and read its status line (aiohttp has then registered
    the connection, and every one opened before it)."""
    pair[1].write(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
    async with asyncio.timeout(5.0):
        return await pair[0].readline()


async def test_connections_past_the_limit_get_a_503_and_one_log_line(gateway: Gateway) -> None:
    limit = 5
    await restart_with(gateway, f"max_connections = {limit}")
    host, port = address(gateway)
    held: list[Pair] = []
    first = b""
    try:
        for _ in range(limit + 1):  # the test's HTTP session may hold one of the five
            pair = await asyncio.open_connection(host, port)
            held.append(pair)
            first = await status_line(pair)
            if not first.startswith(b"HTTP/1.1 200"):
                break
        accepted = len(held) - 1
        assert limit - 1 <= accepted <= limit
        answers = [first + await closed_by_server(held[-1][0])]
        for _ in range(20):
            reader, writer = await asyncio.open_connection(host, port)
            answers.append(await closed_by_server(reader))
            writer.close()
        for answer in answers:
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503"), answer[:200]
            assert json.loads(body)["error"]["code"] == "too_many_connections"
    finally:
        await close_all(held)
    assert gateway.log().count("connection limit") == 1

    async def answers_again() -> bool:
        status, _ = await gateway.request("GET", "/readyz")
        return status == 200

    await poll_until(answers_again, "a free connection once the held ones closed", 10.0)


async def test_plain_http_beyond_loopback_refuses_to_start(gateway: Gateway) -> None:
    await gateway.stop()
    text = gateway.config_path.read_text().replace('host = "127.0.0.1"', 'host = "0.0.0.0"', 1)
    gateway.config_path.write_text(text)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "run",
        "--config",
        str(gateway.config_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(30):
        out, _ = await proc.communicate()
    assert proc.returncode == 3, out
    lines = out.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "allow_plain_http" in lines[0]
    assert "tls_cert" in lines[0]


async def test_plain_http_beyond_loopback_when_allowed_warns(gateway: Gateway) -> None:
    await restart_with(gateway, "allow_plain_http = true", host="0.0.0.0")
    log = gateway.log()
    assert "WARNING" in log
    assert "plain HTTP" in log
    status, _ = await gateway.request("GET", "/readyz")
    assert status == 200
