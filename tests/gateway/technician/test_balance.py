"""Reading an amount from operators' USSD replies, its config, and the daemon's schedule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.config import BalanceConfig, load_config
from gateway.errors import ConfigError
from gateway.fleet.balance import parse_balance, to_number
from tests.gateway.runtime.conftest import poll_until
from tests.gateway.technician.conftest import GatewayFactory


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("Balance: 12.34 USD", 12.34),
        ("Tu saldo es $5,20", 5.2),
        ("Your balance is KES 1,234.50. Dial *544# for bundles", 1234.5),
        ("Solde principal 1.234,50 FCFA", 1234.5),
        ("Guthaben: 7,00 EUR", 7.0),
        ("Saldo R$ 1.000", 1000.0),
        ("Your credit is 1 234,56 RUB", 1234.56),
        ("On 25/11/2026 at 10:30 your balance was 7.5", 7.5),
        ("You have 100 SMS and $3.00 left", 3.0),
        ("Balance 2026-12-01: -3,50 GHS", -3.5),
        ("Main account 0.500 KWD", 0.5),
        ("Rs.50 remaining till 31/12", 50.0),
        ("saldo 42", 42.0),
        ("Service temporarily unavailable", None),
        ("", None),
    ],
)
def test_parse_balance(text: str, amount: float | None) -> None:
    assert parse_balance(text) == amount


def test_a_configured_pattern_replaces_the_guess() -> None:
    pattern = re.compile(r"Bonus ([0-9.,]+)")
    text = "Main 3.00 USD, Bonus 1,50 USD"
    assert parse_balance(text) == 3.0
    assert parse_balance(text, pattern) == 1.5
    assert parse_balance("Main 3.00 USD", pattern) is None


@pytest.mark.parametrize(
    ("token", "value"),
    [("1,000", 1000.0), ("1.000.000", 1e6), ("1,234,567.8", 1234567.8), ("0,75", 0.75)],
)
def test_to_number(token: str, value: float) -> None:
    assert to_number(token) == value


MODEM = """
[store]
data_dir = "data"

[[modems]]
name = "m1"
port = "/dev/ttyUSB0"
"""


def test_config_reads_and_checks_the_balance_table(tmp_path: Path) -> None:
    path = tmp_path / "smsgw.toml"
    path.write_text(MODEM + '[modems.balance]\nussd = "*100#"\n')
    assert load_config(path).modems[0].balance == BalanceConfig(ussd="*100#")
    assert load_config(path).modems[0].balance is not None
    path.write_text(MODEM)
    assert load_config(path).modems[0].balance is None
    cases = {
        'ussd = "*100#"\ninterval = 60': "modems[0].balance.interval",
        'ussd = "*100#;"': "modems[0].balance.ussd",
        "interval = 600": "modems[0].balance.ussd",
        'ussd = "*100#"\npattern = "[0-9]+"': "modems[0].balance.pattern",
        'ussd = "*100#"\npattern = "(["': "modems[0].balance.pattern",
        'ussd = "*100#"\nintervall = 600': "modems[0].balance.intervall",
    }
    for body, field in cases.items():
        path.write_text(MODEM + "[modems.balance]\n" + body + "\n")
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert info.value.field == field, body


async def test_the_schedule_sets_the_gauge_status_and_event(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(
        ("alpha", "beta"),
        balance=BalanceConfig(ussd="*100#", interval=0.2),
        ussd_reply="Saldo: $1.234,50 (vence 31/12)",
    )
    handle = gw.daemon.handles["alpha"]

    async def checked() -> bool:
        return all(h.balance is not None for h in gw.daemon.handles.values())

    await poll_until(checked, "a balance check on every modem")
    assert handle.balance == 1234.5
    assert handle.balance_text == "Saldo: $1.234,50 (vence 31/12)"
    metrics = await gw.text("/metrics")
    assert 'smsgw_modem_balance{modem="alpha"} 1234.5' in metrics
    assert 'smsgw_modem_balance_timestamp_seconds{modem="beta"}' in metrics

    # The next check picks up a new reply.
    gw.sims["alpha"].set_ussd_reply("Saldo: $9,99")

    async def updated() -> bool:
        return handle.balance == 9.99

    await poll_until(updated, "the next check")
    status, body = await gw.call("GET", "/v1/modems")
    assert status == 200
    alpha = next(m for m in body["modems"] if m["name"] == "alpha")
    assert alpha["balance"] == 9.99
    assert alpha["balance_text"] == "Saldo: $9,99"
    assert alpha["balance_at"].endswith("Z")
    status, events = await gw.call("GET", "/v1/events?limit=100")
    balances = [e for e in events["items"] if e["kind"] == "modem.balance"]
    assert balances
    assert {e["modem"] for e in balances} == {"alpha", "beta"}
    # Scheduled checks are the daemon's own: they are events, not audit entries.
    assert (await gw.daemon.store.list_audit(cursor=None, limit=10)).items == []


async def test_no_schedule_without_the_table(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    assert gw.daemon.fleet is not None
    tasks = [t.get_name() for s in gw.daemon.fleet.supervisors.values() for t in s.tasks]
    assert "health-alpha" in tasks  # the modem's loops are its supervisor's
    assert not [name for name in tasks if name.startswith("balance-")]
    metrics = await gw.text("/metrics")
    assert "smsgw_modem_balance{" not in metrics
