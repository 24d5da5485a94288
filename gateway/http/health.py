"""``/healthz`` and ``/readyz``: is the process up, and is it ready to send."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from gateway.errors import Unavailable
from gateway.http.context import CONTEXT
from gateway.http.feature import Feature, Route
from gateway.http.openapi_builders import error_responses, json_content, object_schema, public
from gateway.http.resources import json_response

HEALTHZ_PATH: Final = "/healthz"
READYZ_PATH: Final = "/readyz"


async def healthz(request: web.Request) -> web.Response:
    """The process answers: nothing else is checked (that is ``/readyz``)."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready, or a 503 whose message says why (the store's trouble, or no modem)."""
    reason = request.app[CONTEXT].service.not_ready_reason()
    if reason is not None:
        raise Unavailable(f"not ready: {reason}")
    return json_response({"status": "ready"})


FEATURE: Final = Feature(
    "health",
    routes=(
        Route("GET", HEALTHZ_PATH, healthz, None),
        Route("GET", READYZ_PATH, readyz, None),
    ),
    paths={
        "/healthz": {
            "get": public(
                {
                    "operationId": "healthz",
                    "summary": "The process is alive",
                    "responses": {"200": json_content("Status", "alive"), **error_responses()},
                }
            )
        },
        "/readyz": {
            "get": public(
                {
                    "operationId": "readyz",
                    "summary": "The store is open and at least one modem is ready",
                    "responses": {
                        "200": json_content("Status", "ready"),
                        **error_responses("503"),
                    },
                }
            )
        },
    },
    schemas={"Status": object_schema({"status": {"type": "string", "enum": ["ok", "ready"]}})},
)
