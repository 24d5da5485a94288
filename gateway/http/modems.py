"""``/v1/modems`` and ``/v1/events``: the fleet's state and its log of state changes.

Read-only; what changes a modem (reset, AT and USSD passthrough) is ``modem_actions``.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from gateway.core.waiting import MODEM_REASONS
from gateway.http.context import CONTEXT
from gateway.http.feature import Feature, Route
from gateway.http.openapi_builders import (
    INT,
    INT_OR_NULL,
    PAGE_PARAMS,
    STR,
    STR_OR_NULL,
    TIME,
    TIME_OR_NULL,
    Schema,
    error_responses,
    json_content,
    object_schema,
    page_schema,
    ref,
    secured,
    waiting_schema,
)
from gateway.http.resources import event_json, json_response, modem_json, page_json
from gateway.http.validation import page_cursor, page_limit, query_params
from gateway.store.base import Scope

EVENT_PARAMS: Final = frozenset({"cursor", "limit"})
MODEMS_PATH: Final = "/v1/modems"
EVENTS_PATH: Final = "/v1/events"


async def list_modems(request: web.Request) -> web.Response:
    modems = request.app[CONTEXT].service.modems()
    return json_response({"modems": [modem_json(m) for m in modems]})


async def list_events(request: web.Request) -> web.Response:
    params = query_params(request.query, EVENT_PARAMS)
    page = await request.app[CONTEXT].service.store.list_events(
        cursor=page_cursor(params), limit=page_limit(params)
    )
    return json_response(page_json(page, [event_json(e) for e in page.items]))


_AUTH_ERRORS: Final = ("401", "403")
_IDENTITY_FIELDS: Final = ("manufacturer", "model", "revision", "imei", "imsi", "iccid")


def _schemas() -> dict[str, Schema]:
    return {
        "Modem": object_schema(
            {
                "name": STR,
                "port": STR,
                "profile": STR,
                "state": {"type": "string", "description": "starting, ready, down, closed, ..."},
                "reason": STR_OR_NULL,
                "tags": {"type": "array", "items": STR},
                "number": {
                    **STR_OR_NULL,
                    "description": "the SIM's own number: `number =` in the config, else the "
                    "SIM's answer to AT+CNUM; null when neither gives one",
                },
                "identity": {
                    **object_schema({k: STR_OR_NULL for k in _IDENTITY_FIELDS}),
                    "type": ["object", "null"],
                },
                "health": {
                    **object_schema(
                        {
                            "signal_dbm": INT_OR_NULL,
                            "csq": INT_OR_NULL,
                            "registration": STR,
                            "technology": STR_OR_NULL,
                            "operator": STR_OR_NULL,
                            "sim": STR,
                            "storage_used": INT_OR_NULL,
                            "storage_total": INT_OR_NULL,
                        }
                    ),
                    "type": ["object", "null"],
                },
                "sent_total": {"type": "integer", "minimum": 0},
                "failed_total": {"type": "integer", "minimum": 0},
                "last_error": STR_OR_NULL,
                "last_seen": TIME_OR_NULL,
                "balance": {
                    "type": ["number", "null"],
                    "description": "prepaid credit from the last [modems.balance] check",
                },
                "balance_text": STR_OR_NULL,
                "balance_at": TIME_OR_NULL,
                "waiting": waiting_schema(
                    MODEM_REASONS,
                    "why the modem takes no work now, null when it would: rate_window or "
                    "daily_cap until its [modems.rate] window frees, modem_held after a fault "
                    "until `until`, not_registered, modem_down",
                ),
            }
        ),
        "ModemList": object_schema({"modems": {"type": "array", "items": ref("Modem")}}),
        "Event": object_schema(
            {
                "id": INT,
                "at": TIME,
                "kind": STR,
                "modem": STR_OR_NULL,
                "detail": {"type": "object"},
            }
        ),
        "EventPage": page_schema("Event"),
    }


def _paths() -> dict[str, Any]:
    return {
        "/v1/modems": {
            "get": secured(
                {
                    "operationId": "list_modems",
                    "summary": "Modems with identity, state, signal and counters",
                    "responses": {
                        "200": json_content("ModemList", "every configured modem"),
                        **error_responses(*_AUTH_ERRORS),
                    },
                },
                Scope.READ,
            )
        },
        "/v1/events": {
            "get": secured(
                {
                    "operationId": "list_events",
                    "summary": "Modem state changes, resets and errors",
                    "parameters": list(PAGE_PARAMS),
                    "responses": {
                        "200": json_content("EventPage", "one page"),
                        **error_responses("400", *_AUTH_ERRORS),
                    },
                },
                Scope.ADMIN,
            )
        },
    }


FEATURE: Final = Feature(
    "modems",
    routes=(
        Route("GET", MODEMS_PATH, list_modems, Scope.READ),
        Route("GET", EVENTS_PATH, list_events, Scope.ADMIN),
    ),
    paths=_paths(),
    schemas=_schemas(),
)
