"""Fixtures: the stand-in service, and the API app around it on 127.0.0.1 port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from gateway.metrics import Metrics
from tests.gateway.ops.fakes import FakeService, FakeStore, Served, modem_status, status_page_app


@pytest.fixture
def fake_service() -> FakeService:
    return FakeService(
        {name: modem_status(name) for name in ("front-desk", "back-office")},
        FakeStore(
            stats_result={
                "messages_queued": 4, "messages_sending": 1, "messages_sent": 7,
                "messages_delivered": 30, "messages_failed": 2, "messages_suppressed": 3,
                "queued_urgent": 1, "queued_normal": 3, "queued_bulk": 0,
                "oldest_queued_created_at": 0, "unmatched_reports": 0,
                "inbound_parts_waiting": 2, "db_bytes": 65536,
            },
        ),
    )  # fmt: skip


@pytest.fixture
async def served(fake_service: FakeService) -> AsyncIterator[Served]:
    metrics = Metrics(fake_service.statuses)
    runner = web.AppRunner(status_page_app(fake_service, metrics), handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as session:
            yield Served(f"http://127.0.0.1:{port}", fake_service, metrics, session)
    finally:
        await runner.cleanup()
