"""The public passthrough rule: what a technician may write to a modem through the driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.errors import DriverError
from drivers.passthrough import PassthroughRefused, check_passthrough, passthrough_refusal
from tests.drivers.test_modem import ready, running


@pytest.mark.parametrize(
    "line",
    [
        "AT+CMGS=20",
        "at+cmgw=12",
        "AT+CMGC=5",
        "ATE0;+CMGS=20",  # chained after ';'
        "AT+COPS?\rAT+CMGD=1,4",  # a second line smuggled in
        "AT+CSQ\x1a",
        "+CSQ",
        "AT" + "X" * 600,
    ],
)
def test_refused_lines(line: str) -> None:
    assert passthrough_refusal(line) is not None
    with pytest.raises(PassthroughRefused) as caught:
        check_passthrough(line)
    assert caught.value.code == "command_refused"
    assert isinstance(caught.value, DriverError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("line", ["AT", "AT+COPS?", "at+csq", 'AT+CSCA="+15550000000",145'])
def test_allowed_lines(line: str) -> None:
    assert passthrough_refusal(line) is None
    assert check_passthrough(line) == line


async def test_modem_refuses_a_chained_send(sim_path: Path) -> None:
    async with running(sim_path) as (sim, modem):
        await ready(modem)
        with pytest.raises(PassthroughRefused):
            await modem.command("ATE0;+CMGS=20")
        assert not [c for c in sim.commands if "CMGS" in c.upper()]
