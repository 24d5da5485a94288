"""AT and USSD passthrough over the admin API, on a real daemon with simulated modems."""

from __future__ import annotations

import re
from typing import Any

import pytest

from drivers.types import ModemState
from gateway.core.service import SendRequest
from gateway.store.base import Scope
from tests.gateway.api.schema_check import errors as schema_errors
from tests.gateway.runtime.conftest import poll_until
from tests.gateway.technician.conftest import Gateway, GatewayFactory


async def _schema_errors(gw: Gateway, schema: str, value: Any) -> list[str]:
    _, doc = await gw.call("GET", "/v1/openapi.json")
    return schema_errors(doc, {"$ref": f"#/components/schemas/{schema}"}, value)


async def _audit(gw: Gateway) -> list[dict[str, Any]]:
    status, page = await gw.call("GET", "/v1/audit?limit=100")
    assert status == 200, page
    assert not await _schema_errors(gw, "AuditPage", page)
    items: list[dict[str, Any]] = page["items"]
    return items


async def test_at_returns_the_modems_lines_and_is_audited(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    gw.sims["alpha"].set_signal(17)
    status, body = await gw.call("POST", "/v1/modems/alpha/at", {"command": "AT+CSQ"})
    assert status == 200, body
    assert body == {"modem": "alpha", "command": "AT+CSQ", "lines": ["+CSQ: 17,99"]}
    assert not await _schema_errors(gw, "AtResult", body)

    status, body = await gw.call(
        "POST", "/v1/modems/alpha/at", {"command": "AT+CSQ=?", "timeout": 5}
    )
    assert status == 200
    assert body["lines"] == ["+CSQ: (0-31,99),(0-7,99)"]

    [second, first] = await _audit(gw)
    assert first["action"] == "modem.at"
    assert first["subject"] == "alpha"
    assert first["actor"] == gw.admin_id
    assert first["detail"] == {"command": "AT+CSQ"}
    assert second["detail"] == {"command": "AT+CSQ=?", "timeout": 5.0}
    assert await gw.daemon.store.verify_audit() == 2


@pytest.mark.parametrize(
    "command",
    ["AT+CMGS=20", "at+cmgw", "AT;+CMGS=20", "AT\r\nAT+CMGS=20", "AT+CSQ\n", "ATI\x1a", "+CSQ"],
)
async def test_refused_commands_never_reach_the_modem(
    make_gateway: GatewayFactory, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = await make_gateway()
    modem = gw.daemon.handles["alpha"].modem
    asked: list[str] = []
    passthrough = modem.command

    async def recorded(line: str, timeout: float | None = None) -> list[str]:
        asked.append(line)
        return await passthrough(line, timeout)

    # The daemon's own health polls and sweeps talk to the modem meanwhile; what this
    # checks is that the refused command is never handed to the driver, nor written.
    monkeypatch.setattr(modem, "command", recorded)
    before = len(gw.sims["alpha"].commands)
    status, body = await gw.call("POST", "/v1/modems/alpha/at", {"command": command})
    assert status == 400, body
    assert body["error"]["code"] == "command_refused"
    assert body["error"]["field"] == "command"
    assert asked == []
    written = gw.sims["alpha"].commands[before:]
    assert not [c for c in written if re.search(r"\+CMG[SWC]|\x1a", c, re.IGNORECASE)]
    assert await _audit(gw) == []


async def test_unknown_modem_bad_body_and_scope(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    status, body = await gw.call("POST", "/v1/modems/nope/at", {"command": "AT"})
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = await gw.call("POST", "/v1/modems/nope/ussd", {"code": "*100#"})
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = await gw.call("POST", "/v1/modems/alpha/at", {"command": "AT", "x": 1})
    assert (status, body["error"]["code"]) == (400, "unknown_field")
    status, body = await gw.call("POST", "/v1/modems/alpha/at", {"command": "AT", "timeout": 181})
    assert (status, body["error"]["field"]) == (400, "timeout")
    status, body = await gw.call("POST", "/v1/modems/alpha/ussd", {"code": "*100#;ATH"})
    assert (status, body["error"]["code"]) == (400, "command_refused")
    _, reader = await gw.token(Scope.READ, Scope.SEND)
    for path, payload in (
        ("/v1/modems/alpha/at", {"command": "AT"}),
        ("/v1/modems/alpha/ussd", {"code": "*100#"}),
    ):
        status, body = await gw.call("POST", path, payload, token=reader)
        assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = await gw.call("GET", "/v1/audit", token=reader)
    assert status == 403
    assert await _audit(gw) == []


async def test_modem_errors_carry_the_modems_answer(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    # Only the test form: the daemon's own polls read AT+COPS? and must not take the fault.
    gw.sims["alpha"].fail_command("AT+COPS=?", "+CME ERROR: 30")
    status, body = await gw.call("POST", "/v1/modems/alpha/at", {"command": "AT+COPS=?"})
    assert status == 502, body
    assert body["error"]["code"] == "modem_error"
    assert "+CME ERROR: 30" in body["error"]["message"]
    status, body = await gw.call("POST", "/v1/modems/alpha/at", {"command": "AT+NOSUCH"})
    assert (status, body["error"]["code"]) == (502, "modem_error")
    # The modem still works, and the next send path is unaffected.
    status, body = await gw.call("POST", "/v1/modems/alpha/at", {"command": "AT"})
    assert (status, body["lines"]) == (200, [])


async def test_numbers_in_commands_are_masked_in_the_listing(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    command = 'AT+CPBF="15551234567"'
    await gw.call("POST", "/v1/modems/alpha/at", {"command": command})
    status, page = await gw.call("GET", "/v1/audit")
    assert status == 200
    [entry] = page["items"]
    assert entry["detail"]["command"].startswith('AT+CPBF="')
    assert "5551234" not in str(page)
    # Stored in full (sealed), for whoever holds the key file.
    [stored] = (await gw.daemon.store.list_audit(cursor=None, limit=10)).items
    assert stored.detail["command"] == command


async def test_ussd_returns_text_and_balance(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    status, body = await gw.call("POST", "/v1/modems/alpha/ussd", {"code": "*100#"})
    assert status == 200, body
    assert body == {"modem": "alpha", "status": 0, "text": "Balance: 12.34 USD", "balance": 12.34}
    assert not await _schema_errors(gw, "UssdResult", body)
    gw.sims["alpha"].set_ussd_reply("Tu saldo es $5,20")
    status, body = await gw.call("POST", "/v1/modems/alpha/ussd", {"code": "*133#"})
    assert (status, body["balance"], body["text"]) == (200, 5.2, "Tu saldo es $5,20")
    gw.sims["alpha"].set_ussd_reply("Service unavailable")
    status, body = await gw.call("POST", "/v1/modems/alpha/ussd", {"code": "*100#"})
    assert (status, body["balance"]) == (200, None)
    actions = [(e["action"], e["detail"]) for e in await _audit(gw)]
    assert actions == [("modem.ussd", {"code": c}) for c in ("*100#", "*133#", "*100#")]


async def test_modem_not_ready_and_reset_are_audited(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    status, body = await gw.call("POST", "/v1/modems/alpha/reset")
    assert status == 202, body
    handle = gw.daemon.handles["alpha"]

    async def not_ready() -> bool:
        return handle.state is not ModemState.READY

    await poll_until(not_ready, "the reset to take the modem down")
    status, body = await gw.call("POST", "/v1/modems/alpha/at", {"command": "AT"})
    assert (status, body["error"]["code"]) == (503, "modem_not_ready")
    [entry] = await _audit(gw)
    assert (entry["action"], entry["subject"], entry["actor"]) == (
        "modem.reset",
        "alpha",
        gw.admin_id,
    )


async def test_openapi_documents_the_routes_and_codes(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    _, doc = await gw.call("GET", "/v1/openapi.json")
    for path in ("/v1/modems/{name}/at", "/v1/modems/{name}/ussd"):
        operation = doc["paths"][path]["post"]
        assert operation["x-scope"] == "admin"
        assert {"400", "404", "502", "503", "504"} <= set(operation["responses"])
    assert doc["paths"]["/v1/audit"]["get"]["x-scope"] == "admin"
    codes = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
    assert {"command_refused", "modem_not_ready", "modem_error", "modem_timeout"} <= set(
        codes["enum"]
    )
    for name in ("ModemNotReady", "CommandRefused", "ModemError", "ModemTimeout"):
        assert name in doc["components"]["responses"]
    _, modems = await gw.call("GET", "/v1/modems")
    assert not await _schema_errors(gw, "ModemList", modems)


async def test_a_command_runs_between_the_segments_of_a_send(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(radio_time=0.15)
    sim = gw.sims["alpha"]
    await gw.daemon.gateway.submit([SendRequest(to="+15551234567", body="x" * 400)], None)
    await sim.wait_command("AT+CMGS", 5.0)  # the first segment is on the air
    status, body = await gw.call("POST", "/v1/modems/alpha/at", {"command": "AT+CSQ"})
    assert status == 200, body
    sent = await sim.wait_sent(3, 10.0)
    assert len(sent) == 3
    commands = [c.upper() for c in sim.commands]
    cmgs = [i for i, c in enumerate(commands) if c.startswith("AT+CMGS")]
    csq = max(i for i, c in enumerate(commands) if c == "AT+CSQ")  # after bring-up's
    assert cmgs[0] < csq < cmgs[-1], commands[cmgs[0] :]
