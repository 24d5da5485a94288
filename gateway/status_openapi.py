"""OpenAPI fragment for the technician routes that ``add_ops_routes`` adds under /v1.

``/``, ``/static/...`` and ``/metrics`` are not JSON API routes and stay out of the document.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

Schema = dict[str, Any]

_COUNT: Schema = {"type": "integer", "minimum": 0}
_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}


def _object(properties: dict[str, Schema]) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _counts() -> Schema:
    return {"type": "object", "additionalProperties": _COUNT}


def schemas() -> dict[str, Schema]:
    return {
        "Status": _object(
            {
                "time": {"type": "string", "format": "date-time"},
                "store_ok": {"type": "boolean"},
                "queue": _object(
                    {
                        "depth": _object({"queued": _COUNT, "sending": _COUNT, "unknown": _COUNT}),
                        "queued_by_priority": _counts(),
                        "oldest_queued_age_seconds": {"type": "number", "minimum": 0},
                    }
                ),
                "messages_by_state": _counts(),
                "store_size_bytes": _COUNT,
                "modems": _object(
                    {
                        "total": _COUNT,
                        "up": _COUNT,
                        "items": {
                            "type": "array",
                            "items": _object(
                                {
                                    "name": {"type": "string"},
                                    "segments_sent_today": _COUNT,
                                    "segments_failed_today": _COUNT,
                                    "last_send_success_at": _TIME,
                                }
                            ),
                        },
                    }
                ),
            }
        ),
        "ResetStarted": _object(
            {"modem": {"type": "string"}, "reset": {"type": "string", "enum": ["started"]}}
        ),
    }


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _errors(*statuses: str) -> dict[str, Any]:
    names = {
        "401": "Unauthorized",
        "403": "Forbidden",
        "404": "NotFound",
        "500": "InternalError",
        "503": "Unavailable",
    }
    return {s: {"$ref": f"#/components/responses/{names[s]}"} for s in statuses}


def paths() -> dict[str, Any]:
    return {
        "/v1/status": {
            "get": {
                "operationId": "getStatus",
                "summary": "Queue depth, oldest waiting message and today's counts per modem",
                "x-scope": "read",
                "responses": {
                    "200": _json("Status", "the summary"),
                    **_errors("401", "403", "500", "503"),
                },
            }
        },
        "/v1/modems/{name}/reset": {
            "post": {
                "operationId": "resetModem",
                "summary": "Reset a modem (AT+CFUN=1,1, then reopen); its message is requeued",
                "x-scope": "admin",
                "parameters": [
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "the modem's configured name",
                    }
                ],
                "responses": {
                    "202": _json("ResetStarted", "the reset has started"),
                    **_errors("401", "403", "404", "500", "503"),
                },
            }
        },
    }


def merged(document: Mapping[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(dict(document))
    doc["paths"].update(paths())
    doc["components"]["schemas"].update(schemas())
    return doc
