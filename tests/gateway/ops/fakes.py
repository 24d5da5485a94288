"""A gateway stand-in for the metrics and status page tests, and shared constants.

``FakeService`` answers what the API and the status page routes ask (modems, store
figures, events, keys) from plain attributes a test can change; ``status_page_app``
builds the real API app with the status page and /metrics, as the daemon does.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from drivers import pdu
from drivers.types import Health, Identity, Registration
from gateway.config import ApiSettings
from gateway.core.service import ModemStatus, SendRequest
from gateway.errors import NotFound
from gateway.http import patient_text
from gateway.http.app import make_app
from gateway.http.features import daemon_features
from gateway.metrics import Metrics
from gateway.store.base import (
    AddResult,
    ApiKey,
    EventLogEntry,
    Message,
    MessageState,
    Page,
    Priority,
    QueueItem,
    Scope,
)

ADMIN_TOKEN = "sgw_test_admin_token"
READ_TOKEN = "sgw_test_read_token"
REPO_ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def modem_status(name: str, state: str = "ready", **changes: Any) -> ModemStatus:
    status = ModemStatus(
        name=name,
        port=f"/dev/serial/by-id/{name}",
        profile="quectel",
        state=state,
        reason="initialised",
        tags=("test",),
        identity=Identity("Quectel", "EC25", "EC25EFAR06A06M4G", "351234567890123", None,
                          "8901260000000004321"),
        health=Health(-71, 21, Registration.HOME, "lte", "SimNet", "ready", 2, 30),
        sent_total=3,
        failed_total=1,
        last_error="cms_500",
        last_seen=time.time(),
        balance=12.34,
        balance_text="Balance: 12.34 USD",
        balance_at=time.time(),
    )  # fmt: skip
    return replace(status, **changes)


@dataclass
class FakeStore:
    stats_result: dict[str, int] = field(default_factory=dict)
    queue: list[QueueItem] = field(default_factory=list)
    events: list[EventLogEntry] = field(default_factory=list)
    fail_stats: bool = False

    async def stats(self) -> dict[str, int]:
        if self.fail_stats:
            raise OSError("disk gone")
        return dict(self.stats_result)

    async def queued(self) -> list[QueueItem]:
        return list(self.queue)

    async def oldest_due(self, now: float) -> float | None:
        due = [item.send_at for item in self.queue if item.send_at <= now]
        return min(due) if due else None

    async def list_events(self, *, cursor: str | None, limit: int) -> Page[EventLogEntry]:
        return Page(sorted(self.events, key=lambda e: -e.id)[:limit], None)

    async def add_event(self, kind: str, modem: str | None, detail: dict[str, Any]) -> None:
        self.events.append(EventLogEntry(len(self.events) + 1, time.time(), kind, modem, detail))

    async def verify_api_key(self, token: str) -> ApiKey | None:
        scopes = {ADMIN_TOKEN: {Scope.ADMIN}, READ_TOKEN: {Scope.READ}}.get(token)
        if scopes is None:
            return None
        return ApiKey("key_" + token[-5:], "test", frozenset(scopes), 0.0, None)

    async def get_message(self, message_id: str, *, owner: str | None = None) -> Message | None:
        return None

    def key_used(self, key_id: str) -> None:
        pass


@dataclass
class FakeService:
    """What the daemon offers the API and the status page routes, with modems a test can steer."""

    statuses: dict[str, ModemStatus]
    store: FakeStore = field(default_factory=FakeStore)
    api: ApiSettings = field(default_factory=ApiSettings)
    reset_delay: float = 0.3  # seconds a fake reset keeps the modem in "starting"
    resets: list[str] = field(default_factory=list)
    submitted: list[SendRequest] = field(default_factory=list)

    def modems(self) -> list[ModemStatus]:
        return list(self.statuses.values())

    def is_ready(self) -> bool:
        return any(m.state == "ready" for m in self.statuses.values())

    def not_ready_reason(self) -> str | None:
        return None if self.is_ready() else "no modem is ready"

    def set_state(self, name: str, state: str, reason: str) -> None:
        self.statuses[name] = replace(self.statuses[name], state=state, reason=reason)

    async def reset_modem(self, name: str, *, actor: str = "api") -> None:
        if name not in self.statuses:
            raise NotFound("no modem of that name", field="name")
        self.resets.append(name)
        self.set_state(name, "starting", "reset")
        await self.store.add_event("modem.reset", name, {"reason": "manual"})
        asyncio.get_running_loop().call_later(
            self.reset_delay, self.set_state, name, "ready", "initialised"
        )

    async def submit(
        self,
        requests: Sequence[SendRequest],
        api_key: ApiKey | None,
        *,
        refuse_opted_out: bool = False,
    ) -> list[AddResult]:
        self.submitted.extend(requests)
        now = time.time()
        return [
            AddResult(
                Message(
                    id=f"msg_test{len(self.submitted)}", to=r.to, body=r.body,
                    priority=Priority.NORMAL, state=MessageState.QUEUED, created_at=now,
                    updated_at=now, send_at=now, expires_at=None, encoding="gsm7",
                    concat_ref=0, request_report=True, route=None, tags=r.tags,
                    metadata={}, modem=None, attempts=0, last_error_code=None,
                    last_error_text=None, sent_at=None, delivered_at=None, segments=(),
                    api_key_id=None,
                ),
                created=True,
            )
            for r in requests
        ]  # fmt: skip

    async def cancel(self, message_id: str, *, owner: str | None = None) -> Message:
        raise NotImplementedError

    def estimate(self, text: str, to: str | None) -> pdu.Measure:
        del to  # no routes here: the default alphabet only
        return pdu.measure(text)


def status_page_app(service: FakeService, metrics: Metrics) -> web.Application:
    """The API app with the status page, /metrics and modem actions, as the daemon builds it
    on real hardware (no simulated modem to text in as a patient)."""
    features = daemon_features(service, metrics)  # type: ignore[arg-type]
    features += (patient_text.feature(REPO_ROOT / "no-data", ()),)
    return make_app(service, features, default_country="1")  # type: ignore[arg-type]


@dataclass
class Served:
    url: str
    service: FakeService
    metrics: Metrics
    session: aiohttp.ClientSession

    async def get(self, path: str, token: str | None = ADMIN_TOKEN) -> tuple[int, str, str]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.get(self.url + path, headers=headers) as response:
            return response.status, response.headers.get("Content-Type", ""), await response.text()
