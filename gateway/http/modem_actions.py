"""What the technician can do to a modem: reset it, or run one AT command or USSD request.

``POST /v1/modems/{name}/at`` and ``POST /v1/modems/{name}/ussd`` run through the
task that owns the modem's port and are written to the audit trail before the modem
sees them; ``POST /v1/modems/{name}/reset`` starts a reset (the status page's button).
All need the admin scope.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from aiohttp import web

from drivers.passthrough import MAX_COMMAND_CHARS
from gateway.errors import UnknownField, ValidationError
from gateway.fleet.passthrough import MAX_COMMAND_TIMEOUT, UssdAnswer
from gateway.http.context import API_KEY
from gateway.http.feature import Feature, Route
from gateway.http.messages import read_json_object
from gateway.http.openapi_builders import (
    STR,
    Schema,
    error_responses,
    json_body,
    json_content,
    object_schema,
    param,
    secured,
)
from gateway.http.resources import json_response
from gateway.store.base import Scope

AT_PATH: Final = "/v1/modems/{name}/at"
USSD_PATH: Final = "/v1/modems/{name}/ussd"
RESET_PATH: Final = "/v1/modems/{name}/reset"


class ModemActions(Protocol):
    async def modem_command(
        self,
        name: str,
        line: str,
        timeout: float | None,  # noqa: ASYNC109 - the modem's deadline, passed to the driver
        actor: str,
    ) -> list[str]: ...

    async def modem_ussd(self, name: str, code: str, actor: str) -> UssdAnswer: ...

    async def reset_modem(self, name: str, *, actor: str = "api") -> None:
        """Start a reset of the named modem and return (NotFound for an unknown name);
        ``actor`` (the API key's id) goes to the audit trail."""
        ...


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


class _Handlers:
    def __init__(self, service: ModemActions) -> None:
        self.service = service

    async def post_at(self, request: web.Request) -> web.Response:
        obj = await read_json_object(request)
        _fields(obj, frozenset({"command", "timeout"}))
        command = _string(obj, "command")
        timeout = obj.get("timeout")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float)
        ):
            raise ValidationError("timeout must be a number of seconds", field="timeout")
        name = request.match_info["name"]
        lines = await self.service.modem_command(
            name, command, None if timeout is None else float(timeout), _actor(request)
        )
        return json_response({"modem": name, "command": command, "lines": lines})

    async def post_ussd(self, request: web.Request) -> web.Response:
        obj = await read_json_object(request)
        _fields(obj, frozenset({"code"}))
        code = _string(obj, "code")
        name = request.match_info["name"]
        answer = await self.service.modem_ussd(name, code, _actor(request))
        return json_response(
            {"modem": name, "status": answer.status, "text": answer.text, "balance": answer.balance}
        )

    async def post_reset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        key = request.get(API_KEY)
        actor = key.id if key is not None else "api"
        await self.service.reset_modem(name, actor=actor)  # NotFound reaches the client as a 404
        return web.json_response({"modem": name, "reset": "started"}, status=202)


def feature(service: ModemActions) -> Feature:
    handlers = _Handlers(service)
    return Feature(
        "modem_actions",
        routes=(
            Route("POST", RESET_PATH, handlers.post_reset, Scope.ADMIN),
            Route("POST", AT_PATH, handlers.post_at, Scope.ADMIN),
            Route("POST", USSD_PATH, handlers.post_ussd, Scope.ADMIN),
        ),
        paths=_paths(),
        schemas=_schemas(),
        responses=_responses(),
    )


# OpenAPI -------------------------------------------------------------------------------


def _schemas() -> dict[str, Schema]:
    return {
        "AtRequest": object_schema(
            {
                "command": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_COMMAND_CHARS,
                    "description": "one AT command line, e.g. AT+COPS=? (AT+CMGS, AT+CMGW and "
                    "AT+CMGC are refused with command_refused)",
                },
                "timeout": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": MAX_COMMAND_TIMEOUT,
                    "description": "seconds to wait for the final result; default: the modem's "
                    "command_timeout",
                },
            },
            optional=("timeout",),
        ),
        "AtResult": object_schema(
            {
                "modem": STR,
                "command": STR,
                "lines": {
                    "type": "array",
                    "items": STR,
                    "description": "the modem's information lines, without the final OK",
                },
            }
        ),
        "UssdRequest": object_schema(
            {
                "code": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 64,
                    "description": "digits, *, # and +, e.g. *100#",
                }
            }
        ),
        "UssdResult": object_schema(
            {
                "modem": STR,
                "status": {
                    "type": "integer",
                    "description": "+CUSD status: 0 done, 1 further action expected, 2 ended",
                },
                "text": STR,
                "balance": {
                    "type": ["number", "null"],
                    "description": "the amount read from the reply, null when none reads as one",
                },
            }
        ),
        "ResetStarted": object_schema(
            {"modem": {"type": "string"}, "reset": {"type": "string", "enum": ["started"]}}
        ),
    }


def _responses() -> dict[str, Any]:
    def error(description: str) -> dict[str, Any]:
        return json_content("Error", description)

    return {
        "ModemNotReady": error("modem_not_ready: the modem is down, starting or resetting"),
        "CommandRefused": error(
            "command_refused (a prompting command, a line break, not a USSD code), "
            "invalid_json, invalid_request or unknown_field"
        ),
        "ModemError": error(
            "modem_error: the modem answered ERROR, +CME ERROR: n or +CMS ERROR: n (the message "
            "quotes it); ussd_failed: the network refused or dropped the USSD request"
        ),
        "ModemTimeout": error("modem_timeout: no final result within the deadline"),
    }


_NAME = param("name", "path", {"type": "string"}, "the modem's configured name", required=True)


def _passthrough(operation: str, summary: str, request: str, result: str) -> dict[str, Any]:
    return {
        "post": secured(
            {
                "operationId": operation,
                "summary": summary,
                "description": "Runs between the segments of sends; written to the audit trail "
                "before the modem sees it.",
                "parameters": [_NAME],
                "requestBody": json_body(request),
                "responses": {
                    "200": json_content(result, "the modem's answer"),
                    **error_responses(
                        "401",
                        "403",
                        "404",
                        named={
                            "400": "CommandRefused",
                            "502": "ModemError",
                            "503": "ModemNotReady",
                            "504": "ModemTimeout",
                        },
                    ),
                },
            },
            Scope.ADMIN,
        )
    }


def _paths() -> dict[str, Any]:
    return {
        "/v1/modems/{name}/at": _passthrough(
            "modemCommand",
            "Run one AT command on a modem (technician passthrough)",
            "AtRequest",
            "AtResult",
        ),
        "/v1/modems/{name}/ussd": _passthrough(
            "modemUssd", "Run one USSD request on a modem", "UssdRequest", "UssdResult"
        ),
        "/v1/modems/{name}/reset": {
            "post": secured(
                {
                    "operationId": "resetModem",
                    "summary": "Reset a modem (AT+CFUN=1,1, then reopen); its message is requeued",
                    "parameters": [
                        param(
                            "name",
                            "path",
                            {"type": "string"},
                            "the modem's configured name",
                            required=True,
                        )
                    ],
                    "responses": {
                        "202": json_content("ResetStarted", "the reset has started"),
                        **error_responses("401", "403", "404"),
                    },
                },
                Scope.ADMIN,
            )
        },
    }
