"""A clinic in New York for the tests of categories, quiet hours and the auto-reply:
its zone, its local times as instants, and calls to its daemon's HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from gateway.store.base import Scope
from tests.gateway.runtime.conftest import Rig

ZONE_NAME = "America/New_York"
ZONE = ZoneInfo(ZONE_NAME)
PATIENT = "+15551230077"


def local(year: int, month: int, day: int, hour: int, minute: int = 0, *, fold: int = 0) -> float:
    """POSIX seconds of a wall-clock time in the clinic's zone."""
    return datetime(year, month, day, hour, minute, tzinfo=ZONE, fold=fold).timestamp()


async def token(rig: Rig, *, category: str = "care") -> str:
    _, secret = await rig.daemon.store.create_api_key(
        "clinic-tests", frozenset(Scope), default_category=category
    )
    return secret


async def call(rig: Rig, secret: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    url = rig.daemon.api_url
    assert url is not None
    headers = {"Authorization": f"Bearer {secret}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url + path, headers=headers, **kwargs) as response,
    ):
        return response.status, await response.json()
