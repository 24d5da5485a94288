"""``/v1/inbound``: messages received from patients, reassembled."""

from __future__ import annotations

import re
from typing import Final

from aiohttp import web

from gateway.core.numbers import normalize
from gateway.errors import NotFound
from gateway.http.context import CONTEXT
from gateway.http.resources import inbound_json, json_response, page_json
from gateway.http.validation import MAX_ID_CHARS, page_cursor, page_limit, query_params

LIST_PARAMS: Final = frozenset({"from", "modem", "limit", "cursor"})
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
    )
    return json_response(page_json(page, [inbound_json(i) for i in page.items]))


async def get_inbound(request: web.Request) -> web.Response:
    inbound_id = request.match_info["id"]
    inbound = (
        None
        if len(inbound_id) > MAX_ID_CHARS
        else await request.app[CONTEXT].service.store.get_inbound(inbound_id)
    )
    if inbound is None:
        raise NotFound("no such inbound message")
    return json_response(inbound_json(inbound))
