"""``/v1/messages``: submit, batch, read, cancel, list; and how the document describes them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from aiohttp import web

from gateway.config import DEFAULT_CATEGORIES
from gateway.core.numbers import international_pattern, normalize
from gateway.core.replies import DEFAULT_REPLY_WINDOW, MAX_REPLIES, MAX_REPLY_CHARS
from gateway.core.waiting import WaitReason
from gateway.errors import NotFound, UnsupportedMediaType, ValidationError
from gateway.http.context import API_KEY, CONTEXT, canceller, has_scope, reader
from gateway.http.feature import Feature, Route
from gateway.http.openapi_builders import (
    INT_OR_NULL,
    PAGE_PARAMS,
    STR,
    STR_OR_NULL,
    TIME,
    TIME_OR_NULL,
    Schema,
    error_responses,
    json_body,
    json_content,
    object_schema,
    page_schema,
    param,
    ref,
    secured,
    waiting_schema,
)
from gateway.http.reads import MESSAGE_READ, record_read
from gateway.http.reply_fields import MAX_REPLY_WINDOW, MIN_REPLY_WINDOW
from gateway.http.resources import (
    batch_item_json,
    json_response,
    message_json,
    page_json,
    waiting_json,
)
from gateway.http.template_sends import expand_batch, expand_template
from gateway.http.validation import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_SEGMENTS,
    GSM7_CONCAT_CHARS,
    MAX_CATEGORY_CHARS,
    MAX_ID_CHARS,
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_METADATA_BYTES,
    MAX_NUMBER_CHARS,
    MAX_TAG_CHARS,
    MAX_TAGS,
    MAX_TTL_SECONDS,
    PRIORITIES,
    SEND_FIELDS,
    UCS2_CONCAT_CHARS,
    category_name,
    message_state,
    page_cursor,
    page_limit,
    parse_batch,
    parse_json_object,
    parse_send,
    parse_time,
    query_params,
)
from gateway.store.base import ApiKey, MessageFilter, MessageState, Scope, SegmentState

JSON_MEDIA_TYPE: Final = "application/json"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
LIST_PARAMS: Final = frozenset(
    {"state", "to", "tag", "category", "modem", "since", "until", "limit", "cursor"}
)
MESSAGES_PATH: Final = "/v1/messages"
BATCH_PATH: Final = "/v1/messages/batch"
MESSAGE_PATH: Final = "/v1/messages/{id}"


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; aiohttp's 413 (client_max_size) passes up to the envelope."""
    if request.content_type != JSON_MEDIA_TYPE:
        raise UnsupportedMediaType(f"Content-Type must be {JSON_MEDIA_TYPE}")
    return parse_json_object(await request.read())


def _shows_body(key: ApiKey) -> bool:
    return has_scope(key, Scope.READ)


async def post_message(request: web.Request) -> web.Response:
    obj = await expand_template(await read_json_object(request), request.app[CONTEXT].service.store)
    send = parse_send(obj, "", header_key=request.headers.get(IDEMPOTENCY_HEADER))
    key = request[API_KEY]
    [result] = await request.app[CONTEXT].service.submit([send], key, refuse_opted_out=True)
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
    batch = await expand_batch(await read_json_object(request), service.store)
    sends = parse_batch(batch, service.api.max_batch)
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
    service = request.app[CONTEXT].service
    owner = reader(request[API_KEY])
    message = await service.store.get_message(_message_id(request), owner=owner)
    if message is None:
        raise NotFound("no such message")
    await record_read(request, MESSAGE_READ, [message.id], subject=message.id)
    data = message_json(message, with_body=True)
    queued = message.state is MessageState.QUEUED
    data["waiting"] = waiting_json(service.waiting(message.id) if queued else None)
    return json_response(data)


async def delete_message(request: web.Request) -> web.Response:
    key = request[API_KEY]
    message = await request.app[CONTEXT].service.cancel(
        _message_id(request), owner=canceller(key), actor=key.id
    )
    return json_response(message_json(message, with_body=_shows_body(key)))


async def list_messages(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    params = query_params(request.query, LIST_PARAMS)
    to = params.get("to")
    flt = MessageFilter(
        state=message_state(params.get("state")),
        to=None if to is None else normalize(to, context.default_country, field="to"),
        tag=params.get("tag"),
        modem=params.get("modem"),
        category=None
        if "category" not in params
        else category_name(params["category"], "category"),
        since=None if "since" not in params else parse_time(params["since"], "since"),
        until=None if "until" not in params else parse_time(params["until"], "until"),
        owner=reader(request[API_KEY]),
    )
    page = await context.service.store.list_messages(
        flt, cursor=page_cursor(params), limit=page_limit(params)
    )
    await record_read(request, MESSAGE_READ, [m.id for m in page.items])
    return json_response(page_json(page, [message_json(m, with_body=True) for m in page.items]))


# OpenAPI -------------------------------------------------------------------------------

_MESSAGE_STATE: Final = {"type": "string", "enum": [state.value for state in MessageState]}
_ENCODING: Final = {"type": "string", "enum": ["gsm7", "ucs2", "8bit"]}
_TAGS: Final = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_CHARS},
    "maxItems": MAX_TAGS,
}
_CATEGORY: Final = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_CATEGORY_CHARS,
    "description": "a configured category ([categories.NAME]; care, reminder, survey and "
    "marketing always exist): it decides quiet hours and whether opt-out applies",
}
_CATEGORY_IN: Final = {
    **_CATEGORY,
    "description": f"{_CATEGORY['description']}. Absent: the API key's default category "
    "(care unless the key was created with another); an unknown one answers 400 "
    "invalid_request naming the field",
}
_AUTH_ERRORS: Final = ("401", "403")
_SEND_ERRORS: Final = ("400", *_AUTH_ERRORS, "409", "413", "415", "503")


# A body of max_segments (default 10) segments holds at most this many characters
# (GSM-7, 153 a segment); in UCS-2 (67 a segment) fewer.
MAX_BODY_CHARS: Final = DEFAULT_MAX_SEGMENTS * GSM7_CONCAT_CHARS


# Not blank, and none of the control characters the text check refuses (all of C0 but
# tab, line feed, carriage return and form feed; DEL and C1), written for ECMA 262 and re.
_CONTROL_CLASS: Final = r"\u0000-\u0008\u000b\u000e-\u001f\u007f-\u009f"
_BODY_PATTERN: Final = rf"^[^{_CONTROL_CLASS}]*[^{_CONTROL_CLASS}\s][^{_CONTROL_CLASS}]*$"


def _send_request(categories: Iterable[str]) -> Schema:
    return _body_or_template(_send_fields(categories))


def _body_or_template(schema: Schema) -> Schema:
    """A send has ``body`` or ``template`` (not both); ``variables`` go with a template."""
    return {
        **schema,
        "oneOf": [{"required": ["body"]}, {"required": ["template"]}],
        "dependentRequired": {"variables": ["template"]},
    }


def _send_fields(categories: Iterable[str]) -> Schema:
    return object_schema(
        {
            "to": {
                "type": "string",
                "maxLength": MAX_NUMBER_CHARS,
                "pattern": international_pattern(),
                "description": "E.164 (+15551234567) or 00-prefixed: a calling code and a "
                "national number of a length its country uses. The server also takes a "
                "national number for its default country, and ignores spaces, dots, dashes "
                "and parentheses; the pattern describes the international form only",
            },
            "body": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_BODY_CHARS,
                "pattern": _BODY_PATTERN,
                "description": "required unless template is given. Not blank; no "
                "control character but tab, line feed, carriage "
                "return and form feed; at most max_segments segments (by default 10: "
                f"{MAX_BODY_CHARS} GSM-7 or {DEFAULT_MAX_SEGMENTS * UCS2_CONCAT_CHARS} UCS-2 "
                "characters)",
            },
            "priority": {"type": "string", "enum": list(PRIORITIES), "default": "normal"},
            "send_at": {**TIME, "description": "RFC 3339 with an offset; absent = now"},
            "ttl": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_TTL_SECONDS,
                "description": "seconds from send_at after which the message expires",
            },
            "idempotency_key": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_IDEMPOTENCY_KEY_CHARS,
            },
            "tags": _TAGS,
            "metadata": {
                "type": "object",
                "maxProperties": MAX_METADATA_BYTES // 8,  # '"k":"",' and braces at least
                "description": f"any JSON object of at most {MAX_METADATA_BYTES} bytes",
            },
            "request_report": {"type": "boolean", "default": True},
            "category": {**_CATEGORY_IN, "enum": sorted(categories)},
            "template": {
                "type": "string",
                "description": "instead of body: a template's name (/v1/templates). Its "
                "rendered text is what is sent and counted in segments; its category "
                "applies unless category is given. An unknown name answers 400 "
                "invalid_request naming the field",
            },
            "variables": {
                "type": "object",
                "additionalProperties": {"type": ["string", "number"]},
                "description": "with template: its variables. One the template uses and "
                "this lacks answers 400 template_variable_missing, the field naming it "
                "(variables.NAME)",
            },
            "replies": _REPLIES,
            "reply_window": _REPLY_WINDOW,
        },
        optional=(*(SEND_FIELDS - {"to", "body"}), "body", "template", "variables"),
    )


_REPLIES: Final = {
    "type": "object",
    "maxProperties": MAX_REPLIES,
    "propertyNames": {"minLength": 1, "maxLength": MAX_REPLY_CHARS, "pattern": r"\S"},
    "additionalProperties": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_REPLY_CHARS,
        "pattern": r"\S",
    },
    "description": f"at most {MAX_REPLIES} answers ({{}}: none; keys and meanings of 1 to "
    f"{MAX_REPLY_CHARS} characters): "
    'what the patient may answer -> its meaning, e.g. {"C": "confirmed", '
    '"R": "reschedule"}. A text from the patient within reply_window matches when, '
    "trimmed and case-folded, it is a key or a meaning (or its stem: confirm for "
    "confirmed); the newest open message wins; STOP and the other consent keywords never "
    "match. Keys a patient could not tell apart (C and c) answer 400",
}
_REPLY_WINDOW: Final = {
    "type": "integer",
    "minimum": MIN_REPLY_WINDOW,
    "maximum": MAX_REPLY_WINDOW,
    "default": int(DEFAULT_REPLY_WINDOW),
    "description": "seconds after the message goes out during which an answer matches; "
    "ignored without replies",
}
_REPLY: Final = {
    "type": ["object", "null"],
    "properties": {"value": STR, "inbound_id": STR, "received_at": TIME},
    "required": ["value", "inbound_id", "received_at"],
    "additionalProperties": False,
    "description": "the patient's matched answer (GET /v1/inbound/{inbound_id} has the text)",
}


def _schemas(categories: Iterable[str]) -> dict[str, Schema]:
    return {
        "SendRequest": _send_request(categories),
        "BatchRequest": object_schema(
            {
                "messages": {
                    "type": "array",
                    "items": ref("SendRequest"),
                    "minItems": 1,
                    "maxItems": DEFAULT_MAX_BATCH,
                    "description": f"at most max_batch (default {DEFAULT_MAX_BATCH}); an item "
                    "takes idempotency_key in its body, not the Idempotency-Key header",
                }
            }
        ),
        "Segment": object_schema(
            {
                "seq": {"type": "integer", "minimum": 1},
                "state": {"type": "string", "enum": [s.value for s in SegmentState]},
                "modem": STR_OR_NULL,
                "reference": INT_OR_NULL,
                "sent_at": TIME_OR_NULL,
                "report_status": INT_OR_NULL,
            }
        ),
        "Message": object_schema(
            {
                "id": STR,
                "to": {"type": "string", "description": "E.164"},
                "body": {"type": "string", "description": "only for keys with the read scope"},
                "state": _MESSAGE_STATE,
                "priority": {"type": "string", "enum": list(PRIORITIES)},
                "category": _CATEGORY,
                "created_at": TIME,
                "updated_at": TIME,
                "send_at": TIME,
                "expires_at": TIME_OR_NULL,
                "sent_at": TIME_OR_NULL,
                "delivered_at": TIME_OR_NULL,
                "encoding": _ENCODING,
                "segment_count": {"type": "integer", "minimum": 0},
                "segments": {"type": "array", "items": ref("Segment")},
                "modem": STR_OR_NULL,
                "attempts": {"type": "integer", "minimum": 0},
                "error": {
                    "type": ["object", "null"],
                    "properties": {"code": STR, "message": STR},
                    "required": ["code", "message"],
                    "additionalProperties": False,
                },
                "request_report": {"type": "boolean"},
                "tags": _TAGS,
                "metadata": {"type": "object"},
                "conversation_id": {
                    **STR_OR_NULL,
                    "description": "the thread with the recipient (GET "
                    "/v1/conversations/{id}); null for a message accepted before "
                    "conversations were kept",
                },
                "replies": {**_REPLIES, "type": ["object", "null"]},
                "reply_window": INT_OR_NULL,
                "reply": _REPLY,
                "waiting": waiting_schema(
                    tuple(WaitReason),
                    "only in GET /v1/messages/{id}: why a queued message is not being sent, "
                    "null when it is not queued. scheduled: send_at has not come; "
                    "quiet_hours: its category's quiet hours hold it until `until`; "
                    "rate_window, daily_cap: the modem's [modems.rate] limit; modem_held: out "
                    "of rotation after a fault until `until`; not_registered, modem_down: the "
                    "modem cannot send; no_eligible_modem: no running modem may send it (its "
                    "route); in_line: a modem is free for it, other messages go first. "
                    "`modem` names the modem that may take it soonest",
                ),
            },
            optional=("body", "waiting", "replies", "reply_window", "reply"),
        ),
        "BatchItem": object_schema(
            {
                "id": STR,
                "state": _MESSAGE_STATE,
                "segment_count": {"type": "integer", "minimum": 0},
                "encoding": _ENCODING,
                "replayed": {
                    "type": "boolean",
                    "description": "true when the idempotency key named an earlier message",
                },
            }
        ),
        "MessageBatch": object_schema({"messages": {"type": "array", "items": ref("BatchItem")}}),
        "MessagePage": page_schema("Message"),
    }


def _paths() -> dict[str, Any]:
    message_id = param("id", "path", STR, "message id", required=True)
    return {
        "/v1/messages": {
            "post": secured(
                {
                    "operationId": "send_message",
                    "summary": "Queue one message",
                    "description": "Committed to disk before the answer. A repeated "
                    "idempotency key with the same request returns the first message (200).",
                    "parameters": [
                        param(
                            "Idempotency-Key",
                            "header",
                            {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": MAX_IDEMPOTENCY_KEY_CHARS,
                            },
                            "same as idempotency_key in the body (they must agree)",
                        )
                    ],
                    "requestBody": json_body("SendRequest"),
                    "responses": {
                        "202": json_content(
                            "Message",
                            "accepted and queued",
                            headers={"Location": {"schema": STR}},
                        ),
                        "200": json_content(
                            "Message",
                            "idempotent replay: the message first accepted with this key",
                            headers={"Location": {"schema": STR}},
                        ),
                        **error_responses(*_SEND_ERRORS, "422"),
                    },
                },
                Scope.SEND,
            ),
            "get": secured(
                {
                    "operationId": "list_messages",
                    "summary": "List messages, newest first",
                    "description": "Only the messages this key sent, unless it holds "
                    "read_all or admin.",
                    "parameters": [
                        param(
                            "state",
                            "query",
                            _MESSAGE_STATE,
                            "only messages in this state",
                        ),
                        param(
                            "to",
                            "query",
                            STR,
                            "only messages to this number (international form, or national "
                            "with the server's default country)",
                        ),
                        param("tag", "query", STR, "only messages carrying this tag"),
                        param("category", "query", _CATEGORY, "only messages of this category"),
                        param(
                            "modem",
                            "query",
                            STR,
                            "only messages a modem took (its configured name)",
                        ),
                        param("since", "query", TIME, "created at or after (RFC 3339)"),
                        param("until", "query", TIME, "created before (RFC 3339)"),
                        *PAGE_PARAMS,
                    ],
                    "responses": {
                        "200": json_content("MessagePage", "one page"),
                        **error_responses("400", *_AUTH_ERRORS),
                    },
                },
                Scope.READ,
            ),
        },
        "/v1/messages/batch": {
            "post": secured(
                {
                    "operationId": "send_batch",
                    "summary": "Queue up to max_batch messages, all or nothing",
                    "description": "A bad item rejects the whole batch; the error's field names "
                    "it (messages[3].to). Idempotency keys go in each item. Answers 200 "
                    "instead of 202 when every item was an idempotent replay. Each answer "
                    "item is brief (no number, no text): GET /v1/messages/{id} has the rest.",
                    "requestBody": json_body("BatchRequest"),
                    "responses": {
                        "202": json_content("MessageBatch", "accepted, in request order"),
                        "200": json_content("MessageBatch", "every item was an idempotent replay"),
                        **error_responses(*_SEND_ERRORS),
                    },
                },
                Scope.SEND,
            )
        },
        "/v1/messages/{id}": {
            "get": secured(
                {
                    "operationId": "get_message",
                    "summary": "One message with its segments",
                    "description": "Another key's message answers 404, unless this key "
                    "holds read_all or admin.",
                    "parameters": [message_id],
                    "responses": {
                        "200": json_content("Message", "the message"),
                        **error_responses(*_AUTH_ERRORS, "404"),
                    },
                },
                Scope.READ,
            ),
            "delete": secured(
                {
                    "operationId": "cancel_message",
                    "summary": "Cancel a message no modem has started on",
                    "description": "Another key's message answers 404, unless this key "
                    "holds admin.",
                    "parameters": [message_id],
                    "responses": {
                        "200": json_content("Message", "cancelled"),
                        **error_responses(*_AUTH_ERRORS, "404", "409"),
                    },
                },
                Scope.SEND,
            ),
        },
    }


def feature(categories: Iterable[str] = DEFAULT_CATEGORIES) -> Feature:
    """The messages feature; its document lists the configured categories."""
    return Feature(
        "messages",
        routes=(
            Route("POST", MESSAGES_PATH, post_message, Scope.SEND),
            Route("POST", BATCH_PATH, post_batch, Scope.SEND),
            Route("GET", MESSAGES_PATH, list_messages, Scope.READ),
            Route("GET", MESSAGE_PATH, get_message, Scope.READ),
            Route("DELETE", MESSAGE_PATH, delete_message, Scope.SEND),
        ),
        paths=_paths(),
        schemas=_schemas(categories),
    )


FEATURE: Final = feature()
