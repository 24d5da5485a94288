"""Accept errors (out of descriptors) are logged once per interval, with a count."""

from __future__ import annotations

import asyncio
import errno
import logging

import pytest

from gateway.core.service import GatewayService
from gateway.http import start_api
from gateway.http.server import ThrottledLog


async def test_accept_errors_are_throttled_while_serving(
    service: GatewayService, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    server = await start_api(service, "127.0.0.1", 0)
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(1000):
                loop.call_exception_handler(
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": OSError(errno.EMFILE, "Too many open files"),
                    }
                )
        lines = [r.getMessage() for r in caplog.records if "accepting" in r.getMessage()]
        assert len(lines) == 1
        assert "Too many open files" in lines[0]
    finally:
        await server.stop()
    assert loop.get_exception_handler() is None  # put back as it was


def test_throttled_log_counts_what_it_left_out(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    throttled = ThrottledLog("refused", interval=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        assert throttled.note()
        assert not any(throttled.note() for _ in range(9))
        now[0] = 60.0
        assert throttled.note()
    assert [r.getMessage().split(" (")[1].split(" ")[0] for r in caplog.records] == ["1", "10"]
