"""A load balancer probes ``/readyz`` every few seconds: a 503 is an answer, not an error
to log with a traceback."""

from __future__ import annotations

import logging

import pytest

from tests.gateway.api.conftest import Api


async def test_a_not_ready_probe_logs_no_error(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        reply = await api.call("GET", "/readyz", key=None)
        assert (reply.status, reply.code) == (503, "unavailable")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert [r for r in caplog.records if r.exc_info] == []
    assert any("unavailable in GET /readyz" in r.getMessage() for r in caplog.records)
