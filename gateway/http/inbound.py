"""``/v1/inbound``: messages received from patients, reassembled; and their description."""

from __future__ import annotations

import re
from typing import Any, Final

from aiohttp import web

from gateway.core.numbers import normalize
from gateway.errors import NotFound
from gateway.http.context import API_KEY, CONTEXT, reader
from gateway.http.feature import Feature, Route
from gateway.http.openapi_builders import (
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
    param,
    secured,
)
from gateway.http.reads import INBOUND_READ, record_read
from gateway.http.resources import inbound_json, json_response, page_json
from gateway.http.validation import MAX_ID_CHARS, page_cursor, page_limit, query_params
from gateway.store.base import Scope

LIST_PARAMS: Final = frozenset({"from", "modem", "limit", "cursor"})
LIST_PATH: Final = "/v1/inbound"
ITEM_PATH: Final = "/v1/inbound/{id}"
# Senders may be alphanumeric ("CLINIC"); such a filter is taken as written.
_ALPHANUMERIC_SENDER: Final = re.compile(r"[A-Za-z0-9 ]{1,11}")


def _sender(raw: str, default_country: str) -> str:
    if any(ch.isalpha() for ch in raw) and _ALPHANUMERIC_SENDER.fullmatch(raw):
        return raw
    return normalize(raw, default_country, field="from")


async def list_inbound(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    params = query_params(request.query, LIST_PARAMS)
    sender = params.get("from")
    page = await context.service.store.list_inbound(
        sender=None if sender is None else _sender(sender, context.default_country),
        modem=params.get("modem"),
        cursor=page_cursor(params),
        limit=page_limit(params),
        owner=reader(request[API_KEY]),
    )
    await record_read(request, INBOUND_READ, [i.id for i in page.items])
    return json_response(page_json(page, [inbound_json(i) for i in page.items]))


async def get_inbound(request: web.Request) -> web.Response:
    inbound_id = request.match_info["id"]
    inbound = (
        None
        if len(inbound_id) > MAX_ID_CHARS
        else await request.app[CONTEXT].service.store.get_inbound(
            inbound_id, owner=reader(request[API_KEY])
        )
    )
    if inbound is None:
        raise NotFound("no such inbound message")
    await record_read(request, INBOUND_READ, [inbound.id], subject=inbound.id)
    return json_response(inbound_json(inbound))


_AUTH_ERRORS: Final = ("401", "403")


def _schemas() -> dict[str, Schema]:
    return {
        "Inbound": object_schema(
            {
                "id": STR,
                "from": {"type": "string", "description": "E.164, national, or alphanumeric"},
                "text": STR,
                "modem": STR,
                "encoding": STR,
                "received_at": TIME,
                "sent_at": TIME_OR_NULL,
                "parts": {"type": "integer", "minimum": 1},
                "complete": {"type": "boolean"},
                "conversation_id": STR,
                "in_reply_to": {
                    **STR_OR_NULL,
                    "description": "the message whose expected replies this text answered",
                },
                "reply_value": {
                    **STR_OR_NULL,
                    "description": "the meaning it answered (a value of that message's replies)",
                },
                "channel": {
                    "type": "string",
                    "enum": ["sms", "secure_page"],
                    "description": "secure_page: an answer typed on a secure message's page",
                },
            }
        ),
        "InboundPage": page_schema("Inbound"),
    }


def _paths() -> dict[str, Any]:
    inbound_id = param("id", "path", STR, "inbound message id", required=True)
    return {
        "/v1/inbound": {
            "get": secured(
                {
                    "operationId": "list_inbound",
                    "summary": "Received messages, newest first",
                    "description": "Only texts from numbers this key had sent a message "
                    "to before they came (conversations it started), unless it holds "
                    "read_all or admin.",
                    "parameters": [
                        param("from", "query", STR, "only from this sender"),
                        param("modem", "query", STR, "only received on this modem"),
                        *PAGE_PARAMS,
                    ],
                    "responses": {
                        "200": json_content("InboundPage", "one page"),
                        **error_responses("400", *_AUTH_ERRORS),
                    },
                },
                Scope.READ,
            )
        },
        "/v1/inbound/{id}": {
            "get": secured(
                {
                    "operationId": "get_inbound",
                    "summary": "One received message",
                    "description": "A text this key may not list answers 404.",
                    "parameters": [inbound_id],
                    "responses": {
                        "200": json_content("Inbound", "the message"),
                        **error_responses(*_AUTH_ERRORS, "404"),
                    },
                },
                Scope.READ,
            )
        },
    }


FEATURE: Final = Feature(
    "inbound",
    routes=(
        Route("GET", LIST_PATH, list_inbound, Scope.READ),
        Route("GET", ITEM_PATH, get_inbound, Scope.READ),
    ),
    paths=_paths(),
    schemas=_schemas(),
)
