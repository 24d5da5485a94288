"""Health, readiness, modems, events and the API's own description."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from gateway.errors import Unavailable
from gateway.http.context import CONTEXT
from gateway.http.resources import event_json, json_response, modem_json, page_json
from gateway.http.validation import page_cursor, page_limit, query_params

EVENT_PARAMS: Final = frozenset({"cursor", "limit"})


async def healthz(request: web.Request) -> web.Response:
    """The process answers: nothing else is checked (that is ``/readyz``)."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if not request.app[CONTEXT].service.is_ready():
        raise Unavailable("not ready: store closed or no modem ready")
    return json_response({"status": "ready"})


async def list_modems(request: web.Request) -> web.Response:
    modems = request.app[CONTEXT].service.modems()
    return json_response({"modems": [modem_json(m) for m in modems]})


async def list_events(request: web.Request) -> web.Response:
    params = query_params(request.query, EVENT_PARAMS)
    page = await request.app[CONTEXT].service.store.list_events(
        cursor=page_cursor(params), limit=page_limit(params)
    )
    return json_response(page_json(page, [event_json(e) for e in page.items]))


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(dict(request.app[CONTEXT].openapi))
