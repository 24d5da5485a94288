"""``GET /v1/audit``: the hash-chained audit trail, for the compliance officer.

The listing shows AT commands, since a technician's actions are what it is for, but
masks every run of seven or more digits in them: an ATD or a phone book command
could carry a patient's number.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from gateway.http.context import CONTEXT
from gateway.http.feature import Feature, Route
from gateway.http.openapi_builders import (
    PAGE_PARAMS,
    STR_OR_NULL,
    Schema,
    error_responses,
    json_content,
    object_schema,
    page_schema,
    secured,
)
from gateway.http.resources import json_response, page_json
from gateway.http.validation import page_cursor, page_limit, query_params
from gateway.redact import redact_digit_runs
from gateway.store.base import AuditEntry, Scope
from gateway.timefmt import rfc3339

AUDIT_PATH: Final = "/v1/audit"
AUDIT_PARAMS: Final = frozenset({"cursor", "limit"})


async def list_audit(request: web.Request) -> web.Response:
    params = query_params(request.query, AUDIT_PARAMS)
    page = await request.app[CONTEXT].service.store.list_audit(
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


def _schemas() -> dict[str, Schema]:
    return {
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
                "subject": STR_OR_NULL,
                "detail": {
                    "type": "object",
                    "description": "what was done; runs of 7 or more digits are masked",
                },
                "hash": {"type": "string", "description": "this entry's link in the hash chain"},
            }
        ),
        "AuditPage": page_schema("AuditEntry"),
    }


def _paths() -> dict[str, Any]:
    return {
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


FEATURE: Final = Feature(
    "audit",
    routes=(Route("GET", AUDIT_PATH, list_audit, Scope.ADMIN, head=True),),
    paths=_paths(),
    schemas=_schemas(),
)
