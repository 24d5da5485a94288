"""Every metric ``config/alerts.yml`` and the dashboard read is exported and moves.

A daemon on a simulated modem is scraped before the modem has answered anything,
then after each step of a day's work (the modem comes up, a message is sent and
delivered with its webhook, a text is received, a send fails, the modem's signal
and registration change, a message waits while the modem is gone, a reset). Each
named series must appear, and must at some point differ from its first value.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from drivers.simulator import SimulatedModem
from gateway.config import BalanceConfig, Config
from gateway.daemon import Daemon, RuntimeSettings
from gateway.store.base import MessageState
from tests.gateway.integrations.conftest import GatewayFactory, Subscriber, hook
from tests.gateway.ops.test_metrics import samples
from tests.support import poll_until

ROOT = Path(__file__).resolve().parents[3]
NAME_RE = re.compile(r"\b((?:smsgw|process)_[a-z_]+)")
WITHIN = 20.0  # seconds for one step's effect to show
# Exported for a fact about the build or while the store is healthy: they exist, never move.
CONSTANT = {
    "smsgw_build_info",
    "smsgw_store_up",
    "process_resident_memory_bytes",
    "smsgw_modem_storage_capacity_messages",  # the SIM's, from the first poll on
}
PATIENT = "+15557654321"

Key = tuple[str, tuple[tuple[str, str], ...]]
Samples = dict[Key, float]


def key(name: str, **labels: str) -> Key:
    return name, tuple(sorted(labels.items()))


def named_metrics() -> set[str]:
    alerts = (ROOT / "config" / "alerts.yml").read_text()
    dashboard = json.loads((ROOT / "config" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    return set(NAME_RE.findall(alerts)) | {n for e in exprs for n in NAME_RE.findall(e)}


def family(sample_name: str, named: set[str]) -> str:
    for suffix in ("", "_bucket", "_count", "_sum"):
        base = sample_name.removesuffix(suffix) if suffix else sample_name
        if base in named:
            return base
    return sample_name


@pytest.fixture
async def factory(tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    made = GatewayFactory(tmp_path)
    try:
        yield made
    finally:
        await made.close()


async def test_every_alerted_metric_is_exported_and_moves(
    factory: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = named_metrics()
    assert {"smsgw_webhook_deliveries_total", "smsgw_modem_up"} <= named
    receiver = Subscriber()
    await receiver.start()
    seen: dict[Key, set[float]] = {}
    first: Samples = {}
    url = ""

    async def scrape() -> Samples:
        async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as r:
            assert r.status == 200
            now = samples(await r.text())
        for key, value in now.items():
            seen.setdefault(key, set()).add(value)
        return now

    async def until(check: Callable[[Samples], bool], what: str) -> None:
        async def done() -> bool:
            return check(await scrape())

        await poll_until(done, what, WITHIN)

    # The modem's balance is read by USSD and its health polled often, as configured.
    real_init: Callable[..., None] = Daemon.__init__

    def init(
        self: Daemon, config: Config, *args: object, settings: RuntimeSettings, **kw: object
    ) -> None:
        modems = tuple(replace(m, balance=BalanceConfig(ussd="*100#")) for m in config.modems)
        fast = replace(settings, supervision=replace(settings.supervision, health_interval=0.2))
        real_init(self, replace(config, modems=modems), *args, settings=fast, **kw)

    monkeypatch.setattr(Daemon, "__init__", init)
    try:
        sim = SimulatedModem(factory.root / "dev" / "alpha", profile="quectel", report_delay=0.02)
        (factory.root / "dev").mkdir()
        await sim.start()
        sim.set_ussd_reply("Your balance is 12.50 USD")
        factory.sims["alpha"] = sim
        gateway = await factory(webhooks=[hook(receiver.url, "message.sent")])
        url = gateway.url
        first.update(await scrape())
        up = key("smsgw_modem_up", modem="alpha")

        # A message sent, delivered, its webhook posted.
        sent = await gateway.send(PATIENT, "see you at 10")
        await until(
            lambda s: (
                s.get(key("smsgw_delivery_reports_total", modem="alpha", outcome="delivered"))
                == 1.0
                and s.get(key("smsgw_webhook_deliveries_total", outcome="delivered")) == 1.0
            ),
            "delivery report and webhook counted",
        )
        message = await gateway.daemon.store.get_message(sent.id)
        assert message is not None
        assert message.state is MessageState.DELIVERED
        # A text received; a send refused by the network.
        sim.deliver(PATIENT, "yes")
        sim.fail_sends(500)
        await gateway.send(PATIENT, "this one fails")
        await until(
            lambda s: (
                s.get(key("smsgw_inbound_messages_total", modem="alpha")) == 1.0
                and any(k[0] == "smsgw_segments_failed_total" and v > 0 for k, v in s.items())
            ),
            "inbound and failed send counted",
        )
        # Signal and registration change.
        sim.set_signal(5)
        sim.set_registration(0)
        signal = key("smsgw_modem_signal_dbm", modem="alpha")
        await until(
            lambda s: (
                s.get(key("smsgw_modem_registered", modem="alpha")) == 0.0
                and s.get(signal) != first.get(signal)
            ),
            "signal and registration followed",
        )
        sim.set_registration(1)
        await until(
            lambda s: s.get(key("smsgw_modem_registered", modem="alpha")) == 1.0,
            "registered again",
        )
        # A message waits while the modem is gone, then goes.
        await sim.vanish()
        await until(lambda s: s.get(up) == 0.0, "modem down")
        await gateway.send(PATIENT, "waiting")
        await until(
            lambda s: (
                s.get(key("smsgw_queue_depth", priority="normal"), 0.0) >= 1.0
                and s.get(key("smsgw_queue_oldest_age_seconds"), 0.0) > 0.0
            ),
            "message waiting in the queue",
        )
        await sim.reappear()
        await until(
            lambda s: s.get(key("smsgw_queue_depth", priority="normal")) == 0.0,
            "queue drained",
        )
        # The prepaid balance read by USSD once the modem was ready.
        await until(
            lambda s: s.get(key("smsgw_modem_balance", modem="alpha")) == 12.5,
            "balance read",
        )
        # The SIM asks for its PIN, then is ready again; line noise; storage fills up.
        sim_state = "smsgw_modem_sim_state"
        sim.pin_ok = False
        await until(
            lambda s: s.get(key(sim_state, modem="alpha", state="pin")) == 1.0, "SIM wants a PIN"
        )
        sim.pin_ok = True
        await until(
            lambda s: s.get(key(sim_state, modem="alpha", state="ready")) == 1.0, "SIM ready"
        )
        sim.set_noise(0.5, seed=3)
        noise = key("smsgw_modem_noise_bytes_total", modem="alpha")
        await until(lambda s: s.get(noise, 0.0) > 0.0, "line noise counted")
        sim.set_noise(0.0)
        used = key("smsgw_modem_storage_used_messages", modem="alpha")
        before = first.get(used)
        sim.fill_storage()
        await until(lambda s: s.get(used) not in (None, before), "storage use followed")
        # A reset by hand.
        await gateway.daemon.gateway.reset_modem("alpha")
        await until(
            lambda s: (
                any(k[0] == "smsgw_modem_resets_total" and v > 0 for k, v in s.items())
                and s.get(up) == 1.0
            ),
            "reset counted and modem back",
        )
    finally:
        await receiver.stop()

    exported = {family(name, named) for name, _ in seen}
    assert named - exported == set(), "named in alerts or dashboard but never exported"
    moved = {
        family(name, named)
        for (name, labels), values in seen.items()
        if len(values) > 1 or (name, labels) not in first
    }
    assert named - CONSTANT - moved == set(), "exported but never moved"
