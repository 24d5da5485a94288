"""OpenAPI fragment for the routes ``add_technician_routes`` adds: AT and USSD passthrough,
and the audit trail."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from gateway.technician import MAX_COMMAND_CHARS, MAX_COMMAND_TIMEOUT

Schema = dict[str, Any]

_STR: Schema = {"type": "string"}
_STR_OR_NULL: Schema = {"type": ["string", "null"]}


def _object(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


def schemas() -> dict[str, Schema]:
    return {
        "AtRequest": _object(
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
        "AtResult": _object(
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
        "UssdRequest": _object(
            {
                "code": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 64,
                    "description": "digits, *, # and +, e.g. *100#",
                }
            }
        ),
        "UssdResult": _object(
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
        "AuditEntry": _object(
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
        "AuditPage": _object(
            {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}},
                "next_cursor": _STR_OR_NULL,
            }
        ),
    }


def responses() -> dict[str, Any]:
    def error(description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }

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


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _responses(*names: tuple[str, str]) -> dict[str, Any]:
    return {status: {"$ref": f"#/components/responses/{name}"} for status, name in names}


_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "the modem's configured name",
}
_AUTH = (("401", "Unauthorized"), ("403", "Forbidden"), ("500", "InternalError"))


def _passthrough(operation: str, summary: str, request: str, result: str) -> dict[str, Any]:
    return {
        "post": {
            "operationId": operation,
            "summary": summary,
            "description": "Runs between the segments of sends; written to the audit trail "
            "before the modem sees it. Needs an API key with the `admin` scope.",
            "x-scope": "admin",
            "security": [{"bearer": []}],
            "parameters": [_NAME],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(request)}},
            },
            "responses": {
                "200": _json(result, "the modem's answer"),
                **_responses(
                    ("400", "CommandRefused"),
                    ("404", "NotFound"),
                    ("502", "ModemError"),
                    ("503", "ModemNotReady"),
                    ("504", "ModemTimeout"),
                    *_AUTH,
                ),
            },
        }
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
            "get": {
                "operationId": "listAudit",
                "summary": "The audit trail, newest first (digit runs in details masked)",
                "description": "Needs an API key with the `admin` scope.",
                "x-scope": "admin",
                "security": [{"bearer": []}],
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1},
                        "description": "page size",
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "next_cursor of the previous page",
                    },
                ],
                "responses": {
                    "200": _json("AuditPage", "one page"),
                    **_responses(("400", "BadRequest"), ("503", "Unavailable"), *_AUTH),
                },
            }
        },
    }


def merged(document: Mapping[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(dict(document))
    doc["paths"].update(paths())
    components = doc["components"]
    components["schemas"].update(schemas())
    components.setdefault("responses", {}).update(responses())
    return doc
