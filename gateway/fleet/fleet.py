"""The running modems: a supervisor for each, and a discovery task for each glob port.

A modem with ``simulate`` set arrives here with ``port`` pointing at the pty of a
simulator the command line started (gateway.cli.simulators); production code never
starts one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Final

from gateway.config import ModemConfig
from gateway.consent.desk import ConsentDesk
from gateway.core.ratelimit import RateLimiter
from gateway.core.routing import Router
from gateway.errors import ConfigError, NotFound
from gateway.fleet.discovery import FamilyWatch
from gateway.fleet.dispatch import Dispatcher
from gateway.fleet.handle import ModemHandle, ModemPort
from gateway.fleet.modem_events import InboundHook
from gateway.fleet.supervisor import ModemSupervisor, SupervisorSettings
from gateway.metrics import Metrics
from gateway.store.base import Store

log = logging.getLogger(__name__)

DEVICE_POLL_INTERVAL: Final = 1.0  # looking for new devices matching a glob port (no udev)

ModemFactory = Callable[[ModemConfig, str], ModemPort]


def default_modem_factory(modem_config: ModemConfig, port: str) -> ModemPort:
    """The real driver; the profile of a simulated modem is its simulator profile."""
    from drivers.modem import Modem, ModemSettings

    settings = ModemSettings(
        port=port,
        profile=modem_config.profile if modem_config.simulate is None else modem_config.simulate,
        pin=modem_config.read_pin(),
        smsc=modem_config.smsc,
        cmgs_timeout=modem_config.cmgs_timeout,
        command_timeout=modem_config.command_timeout,
    )
    return Modem(settings, name=modem_config.name)


class Fleet:
    """Starts and stops modems; ``stop`` stops whatever ``start`` got to, bounded."""

    def __init__(
        self,
        *,
        store: Store,
        dispatcher: Dispatcher,
        router: Router,
        metrics: Metrics,
        settings: SupervisorSettings,
        modem_factory: ModemFactory = default_modem_factory,
        device_poll_interval: float = DEVICE_POLL_INTERVAL,
        consent: ConsentDesk | None = None,
        clock: Callable[[], float] = time.time,
        on_inbound: InboundHook | None = None,
    ) -> None:
        self._store = store
        self._consent = consent
        self._dispatcher = dispatcher
        self._router = router
        self._metrics = metrics
        self._settings = settings
        self._modem_factory = modem_factory
        self._device_poll_interval = device_poll_interval
        self._clock = clock
        self._on_inbound = on_inbound
        self.handles: dict[str, ModemHandle] = {}
        self.supervisors: dict[str, ModemSupervisor] = {}
        self._discovery: list[asyncio.Task[None]] = []  # one per glob port, stopped first

    def supervisor(self, name: str) -> ModemSupervisor:
        found = self.supervisors.get(name)
        if found is None:
            raise NotFound("no modem of that name", field="name")
        return found

    async def start(self, modems: Sequence[ModemConfig]) -> None:
        for modem_config in modems:
            if not modem_config.enabled:
                continue
            if modem_config.is_family:
                await self._start_family(modem_config)
            else:
                await self._start_modem(modem_config)

    async def stop(self) -> None:
        """Discovery first (no modem may start while the others stop), then every modem
        at once: none takes new work, the segments in flight may finish."""
        for task in self._discovery:
            task.cancel()
        for task in self._discovery:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._discovery.clear()
        supervisors = list(self.supervisors.values())
        for supervisor in supervisors:
            supervisor.stop_taking_work()
        await asyncio.gather(*(s.stop() for s in supervisors))

    async def _start_family(self, family: ModemConfig) -> None:
        """Start the devices a glob port matches now, then watch it for more."""
        watch = FamilyWatch(family)
        members = watch.scan(self.handles)
        if not members:
            log.warning("modem family %s: no device matches %s yet", family.name, family.port)
        for member in members:
            await self._start_member(member)
        task = asyncio.get_running_loop().create_task(
            watch.run(self._start_member, self.handles, self._device_poll_interval),
            name=f"discover-{family.name}",
        )
        self._discovery.append(task)

    async def _start_member(self, member: ModemConfig) -> None:
        """A device found by a glob port: routes, queue pools and metrics learn of it first."""
        self._router.add_modem(member)
        self._dispatcher.regroup()
        self._metrics.add_modem(member.name)
        await self._start_modem(member)

    async def _start_modem(self, modem_config: ModemConfig) -> None:
        port = modem_config.port  # a plain path: the driver waits for it to appear
        if port is None:
            raise ConfigError(
                f"modem {modem_config.name} is simulated: built-in simulators are started "
                "by `smsgw run` and `smsgw demo`",
                field="simulate",
            )
        limiter = RateLimiter(modem_config.rate)
        if limiter.span > 0:  # the sends before a restart still count
            since = self._clock() - limiter.span
            limiter.restore(await self._store.rate_sends(modem_config.name, since))
        handle = ModemHandle(
            config=modem_config,
            modem=self._modem_factory(modem_config, port),
            port=port,
            limiter=limiter,
        )
        supervisor = ModemSupervisor(
            handle,
            store=self._store,
            dispatcher=self._dispatcher,
            metrics=self._metrics,
            settings=self._settings,
            consent=self._consent,
            clock=self._clock,
            on_inbound=self._on_inbound,
        )
        self.handles[handle.name] = handle
        self.supervisors[handle.name] = supervisor
        await supervisor.start()
