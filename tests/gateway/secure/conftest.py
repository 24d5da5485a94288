"""A real daemon with its public listener for secure messages: a real SQLite file,
simulated modems on real ptys, both HTTP listeners on loopback; a stepped wall clock so
a link can be expired without waiting for it."""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from drivers.simulator import SimulatedModem
from drivers.simulator.records import SentMessage
from gateway.config import (
    ClinicConfig,
    Config,
    EventKind,
    ModemConfig,
    PublicListenerConfig,
    RateConfig,
    RepliesConfig,
    RetryConfig,
    ServerConfig,
    StoreConfig,
    WebhookConfig,
)
from gateway.core.secure_desk import SecureSettings
from gateway.crypto import KeyRing
from gateway.daemon import Daemon, RuntimeSettings
from gateway.store.base import Scope
from tests.gateway.integrations.conftest import FAST_WEBHOOKS, Subscriber
from tests.gateway.runtime.conftest import fast_modem, poll_until
from tests.support import FAST_SUPERVISION, SteppedClock

PATIENT = "+15551230077"
DOB = "1984-03-09"
CLINIC = ClinicConfig(name="Maple Street Clinic", phone="+1 555 010 2000")
BODY = "Your biopsy result is benign. Dr Quill will see you on Friday."
# The smallest PNG there is (1x1, transparent) and a tiny PDF: real magic bytes.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
SWEEP = 0.1  # seconds between looks for expired content
ADDRESS_FAILURES = 8  # wrong answers from one address before it is refused


@dataclass
class SecureRig:
    daemon: Daemon
    sim: SimulatedModem
    clock: SteppedClock
    token: str
    data_dir: Path
    hooks: Subscriber  # receives the secure.* and inbound.received events

    @property
    def api(self) -> str:
        assert self.daemon.api_url is not None
        return self.daemon.api_url

    @property
    def public(self) -> str:
        assert self.daemon.public_url is not None
        return self.daemon.public_url

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.api + path, headers=headers, **kwargs) as response,
        ):
            return response.status, await response.json()

    async def create(self, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "to": PATIENT,
            "body": {"text": BODY},
            "verify": {"method": "dob", "dob": DOB},
            **fields,
        }
        status, created = await self.call("POST", "/v1/secure-messages", json=body)
        assert status == 201, created
        return dict(created)

    async def next_sms(self, count: int) -> SentMessage:
        """The ``count``-th segment the simulated network accepted."""
        sent = await self.sim.wait_sent(count, timeout=15)
        return sent[count - 1]

    async def link(self, count: int) -> str:
        text = (await self.next_sms(count)).submit.text
        return "/s/" + text.rsplit("/s/", 1)[1]


@pytest.fixture
async def secure_rig(tmp_path: Path) -> AsyncIterator[SecureRig]:
    async with running_secure_rig(tmp_path) as rig:
        yield rig


@contextlib.asynccontextmanager
async def running_secure_rig(
    tmp_path: Path,
    *,
    clinic: ClinicConfig = CLINIC,
    replies: RepliesConfig | None = None,
    clock: SteppedClock | None = None,
) -> AsyncIterator[SecureRig]:
    """The daemon of ``secure_rig``, with another clinic, reply rules or wall clock."""
    data = tmp_path / "data"
    data.mkdir()
    key_file = data / "smsgw.key"
    KeyRing.create(key_file)
    sim = SimulatedModem(tmp_path / "alpha", profile="quectel", report_delay=0.02, seed=7)
    await sim.start()
    hooks = Subscriber()
    await hooks.start()
    events = (
        EventKind.SECURE_READ,
        EventKind.SECURE_ANSWERED,
        EventKind.SECURE_LOCKED,
        EventKind.INBOUND_RECEIVED,
    )
    config = Config(
        path=tmp_path / "smsgw.toml",
        server=ServerConfig(host="127.0.0.1", port=0, public=PublicListenerConfig(port=0)),
        store=StoreConfig(data_dir=data, key_file=key_file, durable=False),
        modems=(
            ModemConfig(
                name="alpha", port=str(sim.path), profile="quectel", rate=RateConfig(per_minute=0)
            ),
        ),
        retry=RetryConfig(backoff_initial=0.05, backoff_max=0.2),
        clinic=clinic,
        replies=replies or RepliesConfig(),
        webhooks=(WebhookConfig("hooks", hooks.url, events, secret="s" * 32),),
    )
    clock = clock or SteppedClock(time.time())
    settings = RuntimeSettings(
        supervision=replace(FAST_SUPERVISION, probe_initial=2.0),
        secure=SecureSettings(sweep_interval=SWEEP, address_failures=ADDRESS_FAILURES),
        webhooks=FAST_WEBHOOKS,
    )
    daemon = Daemon(config, settings=settings, modem_factory=fast_modem, clock=clock)
    await daemon.start()
    try:

        async def ready() -> bool:
            return all(h.usable() for h in daemon.handles.values())

        await poll_until(ready, "the modem ready")
        _, token = await daemon.store.create_api_key("secure-tests", frozenset(Scope))
        yield SecureRig(daemon, sim, clock, token, data, hooks)
    finally:
        await daemon.stop()
        await sim.stop()
        await hooks.stop()
