"""``smsgw modem NAME at|ussd`` as a separate process against a running daemon."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from gateway.cli import main as cli
from tests.gateway.technician.conftest import Gateway, GatewayFactory

REPO = Path(__file__).resolve().parents[3]
CLI_DEADLINE = 30.0  # seconds for one CLI process


async def _smsgw(gw: Gateway, *argv: str, token: str | None = None) -> tuple[int, str, str]:
    env = {**os.environ, "SMSGW_API_KEY": token or gw.admin, "SMSGW_URL": gw.url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        *argv,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(CLI_DEADLINE):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_modem_at_and_ussd_through_the_daemon(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    gw.sims["alpha"].set_signal(21)
    code, out, err = await _smsgw(gw, "modem", "alpha", "at", "AT+CSQ", "--timeout", "5")
    assert (code, out, err) == (cli.EXIT_OK, "+CSQ: 21,99\nOK\n", "")

    code, out, err = await _smsgw(gw, "modem", "alpha", "ussd", "*100#")
    assert code == cli.EXIT_OK, err
    assert out == "Balance: 12.34 USD\nbalance: 12.34\n"

    code, out, err = await _smsgw(gw, "modem", "alpha", "at", "AT+CMGS=20")
    assert code == cli.EXIT_USAGE
    assert "command_refused" in err
    assert out == ""
    code, _, err = await _smsgw(gw, "modem", "nope", "at", "AT")
    assert code == cli.EXIT_NOT_FOUND, err

    gw.sims["alpha"].fail_command("AT+COPS", "+CME ERROR: 30")
    code, _, err = await _smsgw(gw, "modem", "alpha", "at", "AT+COPS=?")
    assert code == cli.EXIT_ERROR
    assert "+CME ERROR: 30" in err

    audited = (await gw.daemon.store.list_audit(cursor=None, limit=10)).items
    assert [e.action for e in audited] == ["modem.at", "modem.ussd", "modem.at"]
    assert {e.actor for e in audited} == {gw.admin_id}


def test_help_for_the_new_commands(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["modem"], ["modem", "x", "at"], ["modem", "x", "ussd"], ["audit", "verify"]):
        assert cli.main([*argv, "--help"]) == cli.EXIT_OK
        out = capsys.readouterr().out
        assert "exit codes:" in out
    assert cli.main(["modem", "alpha"]) == cli.EXIT_USAGE
    assert cli.main(["audit"]) == cli.EXIT_USAGE
