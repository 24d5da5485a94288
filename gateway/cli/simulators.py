"""Built-in simulated modems (``simulate = "..."``, ``smsgw demo``), started by the command line.

The daemon only ever opens ports. For each enabled modem that simulates, a
simulator is started on a pty under ``<data_dir>/sim/<name>``, and the daemon is
handed the config with that path as the modem's ``port`` (``simulate`` stays set:
it names the profile). The simulators stop after the daemon has.
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

log = logging.getLogger(__name__)

SIMULATOR_DIR: Final = "sim"
STOP_DEADLINE: Final = 10.0  # seconds: bound on stopping one simulator


@contextlib.asynccontextmanager
async def simulated_modems(config: Config) -> AsyncIterator[Config]:
    """Start a simulator per simulated modem; yields the config with their ptys as ports."""
    async with contextlib.AsyncExitStack() as stack:
        modems: list[ModemConfig] = []
        for modem in config.modems:
            if modem.enabled and modem.simulate is not None:
                sim = await _start(config, modem)
                stack.push_async_callback(_stop, sim, modem.name)
                modem = dataclasses.replace(modem, port=str(sim.path))
            modems.append(modem)
        yield dataclasses.replace(config, modems=tuple(modems))


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
