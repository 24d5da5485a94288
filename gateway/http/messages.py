"""``/v1/messages``: submit, batch, read, cancel, list."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from gateway.core.numbers import normalize
from gateway.errors import NotFound, UnsupportedMediaType, ValidationError
from gateway.http.context import API_KEY, CONTEXT, has_scope
from gateway.http.resources import batch_item_json, json_response, message_json, page_json
from gateway.http.validation import (
    MAX_ID_CHARS,
    message_state,
    page_cursor,
    page_limit,
    parse_batch,
    parse_json_object,
    parse_send,
    parse_time,
    query_params,
)
from gateway.store.base import ApiKey, MessageFilter, Scope

JSON_MEDIA_TYPE: Final = "application/json"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
LIST_PARAMS: Final = frozenset({"state", "to", "tag", "since", "until", "limit", "cursor"})


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; aiohttp's 413 (client_max_size) passes up to the envelope."""
    if request.content_type != JSON_MEDIA_TYPE:
        raise UnsupportedMediaType(f"Content-Type must be {JSON_MEDIA_TYPE}")
    return parse_json_object(await request.read())


def _shows_body(key: ApiKey) -> bool:
    return has_scope(key, Scope.READ)


async def post_message(request: web.Request) -> web.Response:
    obj = await read_json_object(request)
    send = parse_send(obj, "", header_key=request.headers.get(IDEMPOTENCY_HEADER))
    key = request[API_KEY]
    [result] = await request.app[CONTEXT].service.submit([send], key)
    message = result.message
    return json_response(
        message_json(message, with_body=_shows_body(key)),
        status=202 if result.created else 200,
        headers={"Location": f"/v1/messages/{message.id}"},
    )


async def post_batch(request: web.Request) -> web.Response:
    if IDEMPOTENCY_HEADER in request.headers:
        raise ValidationError(
            "a batch takes idempotency_key per message, not the Idempotency-Key header",
            field=IDEMPOTENCY_HEADER,
        )
    service = request.app[CONTEXT].service
    sends = parse_batch(await read_json_object(request), service.api.max_batch)
    key = request[API_KEY]
    results = await service.submit(sends, key)
    return json_response(
        {"messages": [batch_item_json(r) for r in results]},
        status=202 if any(r.created for r in results) else 200,
    )


def _message_id(request: web.Request) -> str:
    message_id = request.match_info["id"]
    if len(message_id) > MAX_ID_CHARS:
        raise NotFound("no such message")
    return message_id


async def get_message(request: web.Request) -> web.Response:
    message = await request.app[CONTEXT].service.store.get_message(_message_id(request))
    if message is None:
        raise NotFound("no such message")
    return json_response(message_json(message, with_body=True))


async def delete_message(request: web.Request) -> web.Response:
    message = await request.app[CONTEXT].service.cancel(_message_id(request))
    return json_response(message_json(message, with_body=_shows_body(request[API_KEY])))


async def list_messages(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    params = query_params(request.query, LIST_PARAMS)
    to = params.get("to")
    flt = MessageFilter(
        state=message_state(params.get("state")),
        to=None if to is None else normalize(to, context.default_country, field="to"),
        tag=params.get("tag"),
        since=None if "since" not in params else parse_time(params["since"], "since"),
        until=None if "until" not in params else parse_time(params["until"], "until"),
    )
    page = await context.service.store.list_messages(
        flt, cursor=page_cursor(params), limit=page_limit(params)
    )
    return json_response(page_json(page, [message_json(m, with_body=True) for m in page.items]))
