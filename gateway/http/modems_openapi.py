"""OpenAPI fragment for the routes ``add_technician_routes`` adds: AT and USSD passthrough,
and the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.fleet.passthrough import MAX_COMMAND_CHARS, MAX_COMMAND_TIMEOUT
from gateway.http.openapi_parts import (
    PAGE_PARAMS,
    Schema,
    error_responses,
    extend,
    json_body,
    json_content,
    object_schema,
    page_schema,
    param,
    secured,
)
from gateway.store.base import Scope

_STR: Schema = {"type": "string"}
_STR_OR_NULL: Schema = {"type": ["string", "null"]}


def schemas() -> dict[str, Schema]:
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
                "modem": _STR,
                "command": _STR,
                "lines": {
                    "type": "array",
                    "items": _STR,
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
                "modem": _STR,
                "status": {
                    "type": "integer",
                    "description": "+CUSD status: 0 done, 1 further action expected, 2 ended",
                },
                "text": _STR,
                "balance": {
                    "type": ["number", "null"],
                    "description": "the amount read from the reply, null when none reads as one",
                },
            }
        ),
        "AuditEntry": object_schema(
            {
                "id": {"type": "integer", "minimum": 1},
                "at": {"type": "string", "format": "date-time"},
                "actor": {"type": "string", "description": "API key id, cli or daemon"},
                "action": {
                    "type": "string",
                    "description": "modem.at, modem.ussd, modem.reset, key.create, key.revoke, "
                    "key.rotate",
                },
                "subject": _STR_OR_NULL,
                "detail": {
                    "type": "object",
                    "description": "what was done; runs of 7 or more digits are masked",
                },
                "hash": {"type": "string", "description": "this entry's link in the hash chain"},
            }
        ),
        "AuditPage": page_schema("AuditEntry"),
    }


def responses() -> dict[str, Any]:
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


def paths() -> dict[str, Any]:
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
        "/v1/audit": {
            "get": secured(
                {
                    "operationId": "listAudit",
                    "summary": "The audit trail, newest first (digit runs in details masked)",
                    "parameters": list(PAGE_PARAMS),
                    "responses": {
                        "200": json_content("AuditPage", "one page"),
                        **error_responses("400", "401", "403"),
                    },
                },
                Scope.ADMIN,
            )
        },
    }


def merged(document: Mapping[str, Any]) -> dict[str, Any]:
    return extend(document, paths=paths(), schemas=schemas(), responses=responses())
