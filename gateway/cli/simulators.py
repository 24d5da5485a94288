"""Built-in simulated modems (``simulate = "..."``, ``smsgw demo``), started by the command line.

The daemon only ever opens ports. For each enabled modem that simulates, a
simulator is started on a pty under ``<data_dir>/sim/<name>``, and the daemon is
handed the config with that path as the modem's ``port`` (``simulate`` stays set:
it names the profile). Their network side listens on ``<data_dir>/sim/network.sock``
(gateway.fleet.patient_line), so that ``smsgw simulate text`` and the status page can
text in as a patient. The simulators stop after the daemon has.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import Final

from drivers.simulator import SimulatedModem
from gateway.config import Config, ModemConfig, SimulatorConfig
from gateway.fleet import patient_line

log = logging.getLogger(__name__)

SIMULATOR_DIR: Final = patient_line.SIMULATOR_DIR
STOP_DEADLINE: Final = 10.0  # seconds: bound on stopping one simulator


@contextlib.asynccontextmanager
async def simulated_modems(config: Config) -> AsyncIterator[Config]:
    """Start a simulator per simulated modem; yields the config with their ptys as ports."""
    async with contextlib.AsyncExitStack() as stack:
        modems: list[ModemConfig] = []
        sims: dict[str, SimulatedModem] = {}
        for modem in config.modems:
            if modem.enabled and modem.simulate is not None:
                sim = await _start(config, modem)
                stack.push_async_callback(_stop, sim, modem.name)
                sims[modem.name] = sim
                modem = dataclasses.replace(modem, port=str(sim.path))
            modems.append(modem)
        if sims:
            path = patient_line.socket_path(config.store.data_dir)
            await stack.enter_async_context(patient_line.serving(path, sims, _deliver(sims)))
        yield dataclasses.replace(config, modems=tuple(modems))


def _deliver(sims: dict[str, SimulatedModem]) -> patient_line.Deliver:
    def deliver(modem: str, sender: str, text: str) -> None:
        sims[modem].deliver(sender, text)

    return deliver


async def _start(config: Config, modem: ModemConfig) -> SimulatedModem:
    assert modem.simulate is not None
    sim_dir = config.store.data_dir / SIMULATOR_DIR
    sim_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    timing = modem.simulator or SimulatorConfig()
    sim = SimulatedModem(
        sim_dir / modem.name,
        profile=modem.simulate,
        radio_time=timing.radio_time,
        report_delay=timing.report_delay,
        report_status=timing.report_status,
    )
    await sim.start()
    return sim


async def _stop(sim: SimulatedModem, name: str) -> None:
    try:
        async with asyncio.timeout(STOP_DEADLINE):
            await sim.stop()
    except Exception as exc:
        log.warning("stopping simulator %s: %s", name, exc)
