"""Admin routes for the technician and the compliance officer.

``POST /v1/modems/{name}/at`` and ``POST /v1/modems/{name}/ussd`` run one AT
command or USSD request through the task that owns the modem's port (audited);
``GET /v1/audit`` lists the audit trail. The listing shows AT commands, since a
technician's actions are what it is for, but masks every run of seven or more
digits in them: an ATD or a phone book command could carry a patient's number.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final, Protocol

from aiohttp import web

from gateway.errors import UnknownField, ValidationError
from gateway.fleet.passthrough import UssdAnswer
from gateway.http import modems_openapi
from gateway.http.context import API_KEY, CONTEXT
from gateway.http.messages import read_json_object
from gateway.http.resources import json_response, page_json, rfc3339
from gateway.http.validation import page_cursor, page_limit, query_params
from gateway.redact import redact_digit_runs
from gateway.store.base import AuditEntry, Scope, Store

AT_PATH: Final = "/v1/modems/{name}/at"
USSD_PATH: Final = "/v1/modems/{name}/ussd"
AUDIT_PATH: Final = "/v1/audit"
AUDIT_PARAMS: Final = frozenset({"cursor", "limit"})

ROUTE_SCOPES: Final[dict[tuple[str, str], Scope | None]] = {
    ("POST", AT_PATH): Scope.ADMIN,
    ("POST", USSD_PATH): Scope.ADMIN,
    ("GET", AUDIT_PATH): Scope.ADMIN,
    ("HEAD", AUDIT_PATH): Scope.ADMIN,
}


class TechnicianService(Protocol):
    @property
    def store(self) -> Store: ...

    async def modem_command(
        self,
        name: str,
        line: str,
        timeout: float | None,  # noqa: ASYNC109 - the modem's deadline, passed to the driver
        actor: str,
    ) -> list[str]: ...

    async def modem_ussd(self, name: str, code: str, actor: str) -> UssdAnswer: ...


SERVICE: Final = web.AppKey("smsgw_technician", TechnicianService)


def add_technician_routes(app: web.Application, service: TechnicianService) -> None:
    """Add the routes, their scopes and their OpenAPI paths. Call before the app starts."""
    app[SERVICE] = service
    app.router.add_post(AT_PATH, post_at)
    app.router.add_post(USSD_PATH, post_ussd)
    app.router.add_get(AUDIT_PATH, list_audit)
    context = app.get(CONTEXT)
    if context is not None:
        app[CONTEXT] = replace(
            context,
            scopes={**context.scopes, **ROUTE_SCOPES},
            openapi=modems_openapi.merged(context.openapi),
        )


def _actor(request: web.Request) -> str:
    return request[API_KEY].id


def _fields(obj: dict[str, Any], allowed: frozenset[str]) -> None:
    for name in obj:
        if name not in allowed:
            raise UnknownField("unknown field", field=name[:64])


def _string(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{name} is required and must be a non-empty string", field=name)
    return value


async def post_at(request: web.Request) -> web.Response:
    obj = await read_json_object(request)
    _fields(obj, frozenset({"command", "timeout"}))
    command = _string(obj, "command")
    timeout = obj.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)):
        raise ValidationError("timeout must be a number of seconds", field="timeout")
    name = request.match_info["name"]
    lines = await request.app[SERVICE].modem_command(
        name, command, None if timeout is None else float(timeout), _actor(request)
    )
    return json_response({"modem": name, "command": command, "lines": lines})


async def post_ussd(request: web.Request) -> web.Response:
    obj = await read_json_object(request)
    _fields(obj, frozenset({"code"}))
    code = _string(obj, "code")
    name = request.match_info["name"]
    answer = await request.app[SERVICE].modem_ussd(name, code, _actor(request))
    return json_response(
        {"modem": name, "status": answer.status, "text": answer.text, "balance": answer.balance}
    )


async def list_audit(request: web.Request) -> web.Response:
    params = query_params(request.query, AUDIT_PARAMS)
    page = await request.app[SERVICE].store.list_audit(
        cursor=page_cursor(params), limit=page_limit(params)
    )
    return json_response(page_json(page, [audit_json(e) for e in page.items]))


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": rfc3339(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "detail": _masked(entry.detail),
        "hash": entry.hash.hex(),
    }


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return redact_digit_runs(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value
