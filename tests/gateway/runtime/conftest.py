"""A real Daemon in-process: real SqliteStore in tmp_path, simulated modems on real ptys,
the real driver; timing shrunk through settings, never slept out."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from drivers.modem import Modem, ModemSettings
from drivers.simulator import SimulatedModem
from gateway.config import (
    DEFAULT_CATEGORIES,
    CategoryConfig,
    ClinicConfig,
    Config,
    InboundConfig,
    ModemConfig,
    RateConfig,
    RetryConfig,
    RouteConfig,
    ServerConfig,
    StoreConfig,
)
from gateway.core.auto_reply import KeywordTest
from gateway.core.service import SendRequest
from gateway.crypto import KeyRing
from gateway.daemon import PURGE_INTERVAL, Daemon, RuntimeSettings
from gateway.fleet.dispatch import DispatchSettings
from gateway.fleet.handle import ModemPort
from gateway.store.base import Message, MessageState, Priority
from tests import support
from tests.support import FAST_SUPERVISION, POLL_INTERVAL

SETTLE = 15.0  # seconds: deadline for anything the daemon should do promptly
PROMPT_TIMEOUT = 0.4  # seconds: the driver's wait for "> " (hang tests wait this out)
CMGS_TIMEOUT = 0.8  # seconds: the driver's wait for +CMGS after the PDU


async def poll_until(
    check: Callable[[], Awaitable[Any]],
    what: str,
    within: float = SETTLE,
    *,
    interval: float = POLL_INTERVAL,
) -> Any:
    """:func:`tests.support.poll_until` with the deadline these tests settle within."""
    return await support.poll_until(check, what, within, interval=interval)


def fast_modem(modem_config: ModemConfig, port: str) -> ModemPort:
    settings = ModemSettings(
        port=port,
        profile=modem_config.profile,
        command_timeout=2.0,
        boot_timeout=5.0,
        reconnect_min=0.05,
        reconnect_max=0.2,
        cmgs_timeout=CMGS_TIMEOUT,
        prompt_timeout=PROMPT_TIMEOUT,
        path_poll_interval=0.05,
        boot_poll_interval=0.2,
    )
    return Modem(settings, name=modem_config.name)


async def text_handled(
    daemon: Daemon, sim: SimulatedModem, modem: str, sender: str, text: str
) -> None:
    """A one-part text from ``sender`` to ``modem``, once the daemon's consumer is done
    with it (committed, answered or not). It waits on texts handled, not on any event:
    a delivery report of an earlier send may be handled first."""
    supervisor = daemon.fleet.supervisors[modem] if daemon.fleet else None
    assert supervisor is not None
    before = supervisor.events.texts_handled
    sim.deliver(sender, text)

    async def handled() -> bool:
        return supervisor.events.texts_handled > before

    await poll_until(handled, f"the text {text!r} handled")


@dataclass
class Rig:
    daemon: Daemon
    sims: dict[str, SimulatedModem]
    started: list[Daemon] = field(default_factory=list)

    async def send(self, to: str, body: str, **kw: Any) -> Message:
        [result] = await self.daemon.gateway.submit([SendRequest(to=to, body=body, **kw)], None)
        return result.message

    async def message(self, message_id: str) -> Message:
        message = await self.daemon.store.get_message(message_id)
        assert message is not None
        return message

    async def wait_state(self, message_id: str, *states: MessageState) -> Message:
        async def check() -> Message | None:
            m = await self.message(message_id)
            return m if m.state in states else None

        result: Message = await poll_until(check, f"{message_id} in {states}")
        return result

    async def wait_ready(self, *names: str) -> None:
        wanted = names or tuple(self.daemon.handles)

        async def check() -> bool:
            return all(self.daemon.handles[n].usable() for n in wanted)

        await poll_until(check, f"modems {wanted} ready")


@dataclass
class RigFactory:
    root: Path
    rigs: list[Rig] = field(default_factory=list)
    sims: list[SimulatedModem] = field(default_factory=list)

    async def __call__(
        self,
        modems: Sequence[tuple[str, str]] = (("alpha", "quectel"),),
        *,
        routes: Sequence[RouteConfig] = (),
        retry: RetryConfig | None = None,
        radio_time: float = 0.0,
        serve_http: bool = False,
        dispatch: DispatchSettings | None = None,
        fault_hold: float = 30.0,
        probe_initial: float = 2.0,
        health_interval: float = 60.0,
        health_deadline: float | None = None,
        reassembly_timeout: float = 600.0,
        rate: RateConfig | None = None,
        clock: Callable[[], float] = time.time,
        categories: Mapping[str, CategoryConfig] = DEFAULT_CATEGORIES,
        clinic: ClinicConfig | None = None,
        is_consent_keyword: KeywordTest | None = None,
        retention_days: int = 90,
        purge_interval: float = PURGE_INTERVAL,
    ) -> Rig:
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        key_file = data / "smsgw.key"
        if not key_file.exists():
            KeyRing.create(key_file)
        (self.root / "dev").mkdir(exist_ok=True)
        sims: dict[str, SimulatedModem] = {}
        modem_configs = []
        for name, profile in modems:
            sim = SimulatedModem(
                self.root / "dev" / name,
                profile=profile,
                radio_time=radio_time,
                report_delay=0.02,
                seed=7,
            )
            await sim.start()
            self.sims.append(sim)
            sims[name] = sim
            modem_configs.append(
                ModemConfig(
                    name=name,
                    port=str(sim.path),
                    profile=profile,
                    rate=rate or RateConfig(per_minute=0),
                )
            )
        config = Config(
            path=self.root / "smsgw.toml",
            server=ServerConfig(host="127.0.0.1", port=0),
            store=StoreConfig(
                data_dir=data, key_file=key_file, durable=False, retention_days=retention_days
            ),
            modems=tuple(modem_configs),
            routes=tuple(routes),
            retry=retry or RetryConfig(backoff_initial=0.05, backoff_max=0.2),
            inbound=InboundConfig(reassembly_timeout=reassembly_timeout),
            categories=categories,
            clinic=clinic or ClinicConfig(),
        )
        settings = RuntimeSettings(
            dispatch=dispatch or DispatchSettings(),
            supervision=replace(
                FAST_SUPERVISION,
                fault_hold=fault_hold,
                probe_initial=probe_initial,
                health_interval=health_interval,
                health_deadline=health_deadline or FAST_SUPERVISION.health_deadline,
            ),
            serve_http=serve_http,
            purge_interval=purge_interval,
        )
        daemon = Daemon(
            config,
            settings=settings,
            modem_factory=fast_modem,
            clock=clock,
            is_consent_keyword=is_consent_keyword,
        )
        await daemon.start()
        rig = Rig(daemon, sims)
        self.rigs.append(rig)
        await rig.wait_ready()
        return rig

    async def close(self) -> None:
        for rig in self.rigs:
            await rig.daemon.stop()
        for sim in self.sims:
            await sim.stop()


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[RigFactory]:
    factory = RigFactory(tmp_path)
    try:
        yield factory
    finally:
        await factory.close()


URGENT = Priority.URGENT
BULK = Priority.BULK
