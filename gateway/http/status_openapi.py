"""OpenAPI fragment for the technician routes that ``add_ops_routes`` adds under /v1.

``/``, ``/static/...`` and ``/metrics`` are not JSON API routes and stay out of the document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.http.openapi_parts import (
    Schema,
    error_responses,
    extend,
    json_content,
    object_schema,
    param,
    secured,
)
from gateway.store.base import Scope

_COUNT: Schema = {"type": "integer", "minimum": 0}
_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}


def _counts() -> Schema:
    return {"type": "object", "additionalProperties": _COUNT}


def schemas() -> dict[str, Schema]:
    return {
        # Not "Status": the core document's Status is what /healthz and /readyz answer.
        "StatusSummary": object_schema(
            {
                "time": {"type": "string", "format": "date-time"},
                "store_ok": {"type": "boolean"},
                "queue": object_schema(
                    {
                        "depth": object_schema(
                            {"queued": _COUNT, "sending": _COUNT, "unknown": _COUNT}
                        ),
                        "queued_by_priority": _counts(),
                        "oldest_queued_age_seconds": {"type": "number", "minimum": 0},
                    }
                ),
                "messages_by_state": _counts(),
                "store_size_bytes": _COUNT,
                "modems": object_schema(
                    {
                        "total": _COUNT,
                        "up": _COUNT,
                        "items": {
                            "type": "array",
                            "items": object_schema(
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
        "ResetStarted": object_schema(
            {"modem": {"type": "string"}, "reset": {"type": "string", "enum": ["started"]}}
        ),
    }


def paths() -> dict[str, Any]:
    return {
        "/v1/status": {
            "get": secured(
                {
                    "operationId": "getStatus",
                    "summary": "Queue depth, oldest waiting message and today's counts per modem",
                    "responses": {
                        "200": json_content("StatusSummary", "the summary"),
                        **error_responses("401", "403"),
                    },
                },
                Scope.READ,
            )
        },
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


def merged(document: Mapping[str, Any]) -> dict[str, Any]:
    return extend(document, paths=paths(), schemas=schemas())
