"""SIM state and SIM storage as metrics, from the modem's last health poll."""

from __future__ import annotations

from dataclasses import replace

from gateway.metrics import sim_state_label
from tests.gateway.ops.fakes import Served
from tests.gateway.ops.test_metrics import scrape, value


async def test_sim_state_and_storage_follow_the_last_poll(served: Served) -> None:
    text = await scrape(served)
    assert value(text, "smsgw_modem_sim_state", modem="front-desk", state="ready") == 1.0
    assert value(text, "smsgw_modem_sim_state", modem="front-desk", state="pin") == 0.0
    assert value(text, "smsgw_modem_storage_used_messages", modem="front-desk") == 2.0
    assert value(text, "smsgw_modem_storage_capacity_messages", modem="front-desk") == 30.0
    statuses = served.service.statuses
    for name, sim, used in (("front-desk", "puk", 29), ("back-office", "absent", None)):
        health = statuses[name].health
        assert health is not None
        statuses[name] = replace(statuses[name], health=replace(health, sim=sim, storage_used=used))
    text = await scrape(served)
    assert value(text, "smsgw_modem_sim_state", modem="front-desk", state="pin") == 1.0
    assert value(text, "smsgw_modem_sim_state", modem="front-desk", state="ready") == 0.0
    assert value(text, "smsgw_modem_sim_state", modem="back-office", state="missing") == 1.0
    assert value(text, "smsgw_modem_storage_used_messages", modem="front-desk") == 29.0
    assert value(text, "smsgw_modem_storage_used_messages", modem="back-office") is None


def test_an_unreadable_sim_is_an_error() -> None:
    assert sim_state_label("unknown") == "error"
    assert sim_state_label("ready") == "ready"
    assert sim_state_label("something new") == "error"
