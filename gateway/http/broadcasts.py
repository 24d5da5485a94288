"""``/v1/broadcasts``: one text to many patients, from JSON or a CSV upload; its progress,
pause, resume, cancel, and the export of its rows.

A CSV upload is read line by line as it arrives (the body is never held whole), so
its size is bounded by ``MAX_CSV_BYTES`` rather than the API's ``max_body_bytes``.
The export holds numbers and variables: it needs the ``read`` scope and is audited.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Final

from aiohttp import web

from gateway.config import DEFAULT_CATEGORIES
from gateway.core.broadcasts import (
    DONE,
    SCHEDULED,
    BroadcastPlan,
    Broadcasts,
    RowInput,
    Status,
)
from gateway.core.templates import variables_of
from gateway.errors import (
    GatewayError,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
    ValidationError,
)
from gateway.http.context import API_KEY, CONTEXT, canceller, reader
from gateway.http.feature import Feature, Route
from gateway.http.messages import JSON_MEDIA_TYPE, read_json_object
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
    ref,
    secured,
)
from gateway.http.resources import json_response
from gateway.http.template_sends import find_template
from gateway.http.validation import (
    MAX_CATEGORY_CHARS,
    MAX_ID_CHARS,
    MAX_NUMBER_CHARS,
    category_name,
    page_cursor,
    page_limit,
    parse_time,
    query_params,
)
from gateway.store.base import (
    Broadcast,
    BroadcastCounts,
    BroadcastState,
    MessageState,
    RecipientRow,
    RecipientState,
    Scope,
    Store,
)
from gateway.store.sealing import decode_cursor, encode_cursor
from gateway.timefmt import rfc3339

CSV_MEDIA_TYPE: Final = "text/csv"
BROADCASTS_PATH: Final = "/v1/broadcasts"
BROADCAST_PATH: Final = "/v1/broadcasts/{id}"
RECIPIENTS_PATH: Final = "/v1/broadcasts/{id}/recipients"
ACTIONS: Final = ("pause", "resume", "cancel")
MAX_NAME_CHARS: Final = 100
MAX_CSV_BYTES: Final = 32 * 1024 * 1024  # 100,000 rows of generous width
MAX_CSV_LINE: Final = 64 * 1024
LINE_TIMEOUT: Final = 30.0  # seconds without a line of the upload: 408
EXPORT_CHUNK: Final = 500
READ_ACTION: Final = "broadcast.read"
JSON_FIELDS: Final = frozenset(
    {
        "name",
        "template",
        "body",
        "category",
        "replies",
        "reply_window",
        "recipients",
        "send_at",
        "strict",
    }
)
CSV_PARAMS: Final = frozenset({"name", "template", "category", "strict", "send_at"})
EXPORT_PARAMS: Final = frozenset({"limit", "cursor", "format"})
INVALID_ROW: Final = "invalid_row"  # a row whose shape could not be read at all
_COUNT_NAMES: Final = (
    "total",
    "pending",
    "queued",
    "sent",
    "delivered",
    "failed",
    "suppressed",
    "invalid",
    "duplicate",
    "cancelled",
    "replied",
)


def feature(desk: Broadcasts, categories: Iterable[str] = DEFAULT_CATEGORIES) -> Feature:
    async def post_broadcast(request: web.Request) -> web.Response:
        key = request[API_KEY]
        store = request.app[CONTEXT].service.store
        if request.content_type == CSV_MEDIA_TYPE:
            params = query_params(request.query, CSV_PARAMS)
            plan = await _plan(params, store, strict=_flag(params.get("strict"), "strict"))
            rows = _csv_rows(request)
        elif request.content_type == JSON_MEDIA_TYPE:
            query_params(request.query, frozenset())
            obj = await read_json_object(request)
            for name in obj:
                if name not in JSON_FIELDS:
                    raise ValidationError("unknown field", field=name[:64])
            strict = obj.get("strict", False)
            if not isinstance(strict, bool):
                raise ValidationError("strict must be true or false", field="strict")
            plan = await _plan(obj, store, strict=strict)
            rows = _json_rows(obj.get("recipients"))
        else:
            raise UnsupportedMediaType(
                f"Content-Type must be {JSON_MEDIA_TYPE} or {CSV_MEDIA_TYPE}"
            )
        broadcast = await desk.create(plan, rows, key)
        return json_response(
            {"id": broadcast.id, "state": broadcast.state.value, "total": broadcast.total},
            status=202,
            headers={"Location": f"{BROADCASTS_PATH}/{broadcast.id}"},
        )

    async def list_broadcasts(request: web.Request) -> web.Response:
        params = query_params(request.query, frozenset({"limit", "cursor"}))
        store = request.app[CONTEXT].service.store
        page = await store.broadcasts.page(
            owner=reader(request[API_KEY]), cursor=page_cursor(params), limit=page_limit(params)
        )
        items = []
        for broadcast in page.items:
            counts = await store.broadcasts.counts(broadcast.id)
            items.append(_broadcast_json(broadcast, desk.shown_state(broadcast, counts), counts))
        return json_response({"items": items, "next_cursor": page.next_cursor})

    async def get_broadcast(request: web.Request) -> web.Response:
        status = await _status(request)
        return json_response(_broadcast_json(status.broadcast, status.state, status.counts))

    def action(name: str) -> Any:
        async def act(request: web.Request) -> web.Response:
            key = request[API_KEY]
            broadcast_id = _broadcast_id(request)
            run = {"pause": desk.pause, "resume": desk.resume, "cancel": desk.cancel}[name]
            await run(broadcast_id, owner=canceller(key), actor=key.id)
            status = await _status(request)
            return json_response(_broadcast_json(status.broadcast, status.state, status.counts))

        return act

    async def _status(request: web.Request) -> Status:
        status = await desk.status(_broadcast_id(request), owner=reader(request[API_KEY]))
        if status is None:
            raise NotFound("no such broadcast")
        return status

    async def get_recipients(request: web.Request) -> web.StreamResponse:
        params = query_params(request.query, EXPORT_PARAMS)
        status = await _status(request)
        broadcast = status.broadcast
        store = request.app[CONTEXT].service.store
        wants_csv = params.get("format") == "csv" or (
            "format" not in params and CSV_MEDIA_TYPE in request.headers.get("Accept", "")
        )
        if params.get("format") not in (None, "csv", "json"):
            raise ValidationError("format must be csv or json", field="format")
        actor = request[API_KEY].id
        if wants_csv:
            await store.audit(actor, READ_ACTION, {"format": "csv"}, subject=broadcast.id)
            return await _stream_csv(request, broadcast)
        limit = page_limit(params)
        cursor = page_cursor(params)
        after = _seq_cursor(cursor)
        rows = await store.broadcasts.recipients(broadcast.id, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        ids = [r.message_id for r in rows if r.message_id is not None]
        await store.audit(actor, READ_ACTION, {"rows": len(rows), "ids": ids}, subject=broadcast.id)
        return json_response(
            {
                "items": [_row_json(r) for r in rows],
                "next_cursor": encode_cursor(rows[-1].seq) if more and rows else None,
            }
        )

    async def _stream_csv(request: web.Request, broadcast: Broadcast) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{broadcast.id}.csv"',
            }
        )
        await response.prepare(request)
        store = request.app[CONTEXT].service.store
        columns = broadcast.columns
        await response.write(
            _csv_line(["row", "to", *columns, "message_id", "state", "error", "reply"])
        )
        after = 0
        while True:
            rows = await store.broadcasts.recipients(broadcast.id, after=after, limit=EXPORT_CHUNK)
            if not rows:
                break
            lines = [
                _csv_line(
                    [
                        str(r.seq),
                        r.to,
                        *(r.variables.get(c, "") for c in columns),
                        r.message_id or "",
                        r.state,
                        r.error_code or "",
                        r.reply or "",
                    ]
                )
                for r in rows
            ]
            await response.write(b"".join(lines))
            after = rows[-1].seq
        await response.write_eof()
        return response

    return Feature(
        "broadcasts",
        routes=(
            Route("POST", BROADCASTS_PATH, post_broadcast, Scope.SEND),
            Route("GET", BROADCASTS_PATH, list_broadcasts, Scope.SEND),
            Route("GET", BROADCAST_PATH, get_broadcast, Scope.SEND),
            *(
                Route("POST", f"{BROADCAST_PATH}/{name}", action(name), Scope.SEND)
                for name in ACTIONS
            ),
            Route("GET", RECIPIENTS_PATH, get_recipients, Scope.READ),
        ),
        paths=_paths(),
        schemas=_schemas(categories),
    )


# requests -------------------------------------------------------------------------------


async def _plan(obj: Mapping[str, Any], store: Store, *, strict: bool) -> BroadcastPlan:
    name = obj.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME_CHARS:
        raise ValidationError(
            f"name must be a string of 1 to {MAX_NAME_CHARS} characters", field="name"
        )
    template_name, body = obj.get("template"), obj.get("body")
    if (template_name is None) == (body is None):
        raise ValidationError("give template or body (one of them)", field="template")
    replies: Mapping[str, str] | None = None
    if template_name is not None:
        template = await find_template(store, template_name, "template")
        text, category = template.body, template.category
        replies = template.replies
        template_name = template.name
    else:
        if not isinstance(body, str) or not body.strip():
            raise ValidationError("body must be a text", field="body")
        text, category = body, None
    if obj.get("category") is not None:
        category = category_name(obj["category"], "category")
    if category is None:
        raise ValidationError("a broadcast of a body names its category", field="category")
    if obj.get("replies") is not None:
        replies = _replies(obj["replies"])
    window = obj.get("reply_window")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int)):
        raise ValidationError("reply_window must be whole seconds", field="reply_window")
    send_at = obj.get("send_at")
    if send_at is not None and not isinstance(send_at, str):
        raise ValidationError("send_at must be an RFC 3339 date-time", field="send_at")
    return BroadcastPlan(
        name=name.strip(),
        body=text,
        template=template_name,
        category=category,
        replies=replies,
        reply_window=None if window is None else float(window),
        send_at=None if send_at is None else parse_time(send_at, "send_at"),
        strict=strict,
    )


def _replies(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValidationError("replies must be an object of strings", field="replies")
    return dict(value)


def _flag(raw: str | None, field: str) -> bool:
    if raw is None or raw in ("false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise ValidationError(f"{field} must be true or false", field=field)


async def _json_rows(items: object) -> AsyncIterator[RowInput]:
    if not isinstance(items, list):
        raise ValidationError("recipients must be an array", field="recipients")
    for index, item in enumerate(items):
        seq = index + 1
        if not isinstance(item, dict) or not isinstance(item.get("to"), str):
            yield RowInput(seq, "", {}, INVALID_ROW)
            continue
        to = item["to"][:MAX_NUMBER_CHARS]
        try:
            if set(item) - {"to", "variables"}:
                raise ValidationError("unknown field")
            variables = variables_of(item.get("variables"), f"recipients[{index}].")
        except GatewayError:
            yield RowInput(seq, to, {}, INVALID_ROW)
            continue
        yield RowInput(seq, to, variables)


async def _csv_rows(request: web.Request) -> AsyncIterator[RowInput]:
    """Records as they arrive: a line at a time, a quoted field may span lines."""
    header: list[str] | None = None
    seq = 0
    read = 0
    pending = ""
    content = request.content
    first = True
    while True:
        try:
            async with asyncio.timeout(LINE_TIMEOUT):
                raw = await content.readline()
        except TimeoutError:
            raise RequestTimeout(f"no line of the CSV arrived within {LINE_TIMEOUT:g} s") from None
        except ValueError:  # a line longer than the reader buffers
            raise PayloadTooLarge(f"a CSV line holds at most {MAX_CSV_LINE} bytes") from None
        if not raw:
            break
        read += len(raw)
        if len(raw) > MAX_CSV_LINE:
            raise PayloadTooLarge(f"a CSV line holds at most {MAX_CSV_LINE} bytes")
        if read > MAX_CSV_BYTES:
            raise PayloadTooLarge(f"a CSV upload holds at most {MAX_CSV_BYTES} bytes")
        try:
            line = raw.decode("utf-8-sig" if first else "utf-8")
        except UnicodeDecodeError:
            raise ValidationError("the CSV is not UTF-8", field="body") from None
        first = False
        pending += line
        if pending.count('"') % 2:  # inside a quoted field: the record goes on
            continue
        record, pending = pending, ""
        if not record.strip():
            continue
        [cells] = list(csv.reader([record]))
        if header is None:
            header = [cell.strip() for cell in cells]
            if "to" not in header:
                raise ValidationError("the CSV's first line must name a 'to' column", field="to")
            continue
        seq += 1
        yield _csv_row(seq, header, cells)
    if header is None:
        raise ValidationError("the CSV is empty", field="body")


def _csv_row(seq: int, header: list[str], cells: list[str]) -> RowInput:
    if len(cells) != len(header):
        return RowInput(seq, "", {}, INVALID_ROW)
    values = dict(zip(header, cells, strict=True))
    to = values.pop("to").strip()[:MAX_NUMBER_CHARS]
    try:
        variables = variables_of({k: v for k, v in values.items() if v != ""}, "")
    except GatewayError:
        return RowInput(seq, to, {}, INVALID_ROW)
    return RowInput(seq, to, variables)


def _broadcast_id(request: web.Request) -> str:
    broadcast_id = request.match_info["id"]
    if len(broadcast_id) > MAX_ID_CHARS:
        raise NotFound("no such broadcast")
    return broadcast_id


def _seq_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    raw = decode_cursor(cursor)
    if not raw.isdigit():
        raise ValidationError("cursor is not one this server issued", field="cursor")
    return int(raw)


# answers --------------------------------------------------------------------------------


def _broadcast_json(broadcast: Broadcast, state: str, counts: BroadcastCounts) -> dict[str, Any]:
    return {
        "id": broadcast.id,
        "name": broadcast.name,
        "state": state,
        "template": broadcast.template,
        "category": broadcast.category,
        "send_at": rfc3339(broadcast.send_at),
        "created_at": rfc3339(broadcast.created_at),
        "updated_at": rfc3339(broadcast.updated_at),
        "total": broadcast.total,
        "counts": _counts_json(counts),
    }


def _counts_json(counts: BroadcastCounts) -> dict[str, int]:
    return {
        "total": counts.total,
        "pending": counts.pending,
        "queued": counts.queued,
        "sent": counts.sent,
        "delivered": counts.delivered,
        "failed": counts.failed,
        "suppressed": counts.suppressed,
        "invalid": counts.invalid,
        "duplicate": counts.duplicate,
        "cancelled": counts.cancelled,
        "replied": counts.replied,
    }


def _row_json(row: RecipientRow) -> dict[str, Any]:
    return {
        "row": row.seq,
        "to": row.to,
        "variables": dict(row.variables),
        "message_id": row.message_id,
        "state": row.state,
        "error": row.error_code,
        "reply": row.reply,
    }


def _csv_line(cells: list[str]) -> bytes:
    return (",".join(_csv_cell(c) for c in cells) + "\r\n").encode()


def _csv_cell(value: str) -> str:
    # A leading = + - @ would be a formula in a spreadsheet: quoted with a ' before it.
    if value[:1] in ("=", "+", "-", "@") and not value[1:].replace(" ", "").isdigit():
        value = "'" + value
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


# OpenAPI --------------------------------------------------------------------------------

_STATES: Final = [s.value for s in BroadcastState if s is not BroadcastState.INTAKE]
_ROW_STATES: Final = sorted(
    {s.value for s in RecipientState if s is not RecipientState.MESSAGE}
    | {s.value for s in MessageState}
)


def _schemas(categories: Iterable[str]) -> dict[str, Schema]:
    count = {"type": "integer", "minimum": 0}
    return {
        "BroadcastRequest": {
            **object_schema(
                {
                    "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS},
                    "template": {"type": "string", "description": "a template's name"},
                    "body": {
                        "type": "string",
                        "minLength": 1,
                        "description": "instead of a "
                        "template: one text for every row (no variables)",
                    },
                    "category": {
                        "type": "string",
                        "enum": sorted(categories),
                        "maxLength": MAX_CATEGORY_CHARS,
                        "description": "absent: the template's",
                    },
                    "replies": {
                        "type": "object",
                        "additionalProperties": STR,
                        "description": "as for a message; absent: the template's",
                    },
                    "reply_window": {"type": "integer", "minimum": 60, "maximum": 2_592_000},
                    "recipients": {
                        "type": "array",
                        "minItems": 1,
                        "items": object_schema(
                            {
                                "to": {"type": "string", "maxLength": MAX_NUMBER_CHARS},
                                "variables": {
                                    "type": "object",
                                    "additionalProperties": {"type": ["string", "number"]},
                                },
                            },
                            optional=("variables",),
                        ),
                    },
                    "send_at": {**TIME, "description": "RFC 3339 with an offset; absent = now"},
                    "strict": {
                        "type": "boolean",
                        "default": False,
                        "description": "true: a bad row refuses the whole request (400 "
                        "naming the rows); false: it is kept as invalid and the rest go on",
                    },
                },
                optional=(
                    "template",
                    "body",
                    "category",
                    "replies",
                    "reply_window",
                    "send_at",
                    "strict",
                ),
            ),
            "oneOf": [{"required": ["template"]}, {"required": ["body"]}],
        },
        "BroadcastAccepted": object_schema(
            {"id": STR, "state": {"type": "string", "enum": _STATES}, "total": count}
        ),
        "Broadcast": object_schema(
            {
                "id": STR,
                "name": STR,
                "state": {
                    "type": "string",
                    "enum": [*_STATES, DONE, SCHEDULED],
                    "description": "done: every row expanded and no message queued; "
                    "scheduled: running, before send_at",
                },
                "template": STR_OR_NULL,
                "category": STR,
                "send_at": TIME_OR_NULL,
                "created_at": TIME,
                "updated_at": TIME,
                "total": count,
                "counts": object_schema(
                    {name: count for name in _COUNT_NAMES}
                    | {
                        "pending": {**count, "description": "rows not expanded yet"},
                        "queued": {**count, "description": "messages queued or being sent"},
                        "failed": {**count, "description": "failed, expired or unknown"},
                        "invalid": {
                            **count,
                            "description": "bad rows (bad number, missing variable, text too long)",
                        },
                        "duplicate": {**count, "description": "a number an earlier row has"},
                        "replied": {**count, "description": "messages whose reply matched"},
                    }
                ),
            }
        ),
        "BroadcastPage": page_schema("Broadcast"),
        "BroadcastRecipient": object_schema(
            {
                "row": {"type": "integer", "minimum": 1},
                "to": {"type": "string", "description": "as given"},
                "variables": {"type": "object", "additionalProperties": STR},
                "message_id": STR_OR_NULL,
                "state": {
                    "type": "string",
                    "enum": _ROW_STATES,
                    "description": "the message's state once expanded; else pending, "
                    "invalid, duplicate or cancelled",
                },
                "error": {
                    **STR_OR_NULL,
                    "description": "a stable code (invalid_number, "
                    "template_variable_missing, text_too_long, invalid_row, opted_out)",
                },
                "reply": {**STR_OR_NULL, "description": "the meaning the answer matched"},
            }
        ),
        "BroadcastRecipientPage": page_schema("BroadcastRecipient"),
    }


def _paths() -> dict[str, Any]:
    broadcast_id = param("id", "path", STR, "broadcast id", required=True)
    errors = ("401", "403", "404")

    def act(name: str, summary: str) -> dict[str, Any]:
        return {
            "post": secured(
                {
                    "operationId": f"{name}_broadcast",
                    "summary": summary,
                    "description": "Another key's broadcast answers 404 unless this key "
                    "holds admin; a change its state does not allow answers 409. Audited.",
                    "parameters": [broadcast_id],
                    "responses": {
                        "200": json_content("Broadcast", "the broadcast now"),
                        **error_responses(*errors, "409"),
                    },
                },
                Scope.SEND,
            )
        }

    csv_params = [
        param("name", "query", STR, "with text/csv: the broadcast's name"),
        param("template", "query", STR, "with text/csv: the template's name"),
        param("category", "query", STR, "with text/csv: absent = the template's"),
        param("strict", "query", {"type": "boolean"}, "with text/csv: refuse any bad row"),
        param("send_at", "query", TIME, "with text/csv: RFC 3339"),
    ]
    return {
        BROADCASTS_PATH: {
            "post": secured(
                {
                    "operationId": "create_broadcast",
                    "summary": "Send one template or text to many recipients",
                    "description": "JSON, or text/csv (UTF-8; a header line with a `to` "
                    "column and one column per variable; an empty cell is a missing "
                    "variable) with the other fields in the query string. Every row is "
                    "stored, checked, before the 202; messages are made in the background "
                    "at bulk priority. A duplicate number is sent once; an opted-out one "
                    "ends suppressed. Row n is the nth recipient (a CSV's line n + 1). "
                    "Audited.",
                    "parameters": csv_params,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": ref("BroadcastRequest")},
                            CSV_MEDIA_TYPE: {"schema": STR},
                        },
                    },
                    "responses": {
                        "202": json_content(
                            "BroadcastAccepted",
                            "stored; expanding",
                            headers={"Location": {"schema": STR}},
                        ),
                        **error_responses("400", "401", "403", "413", "415"),
                    },
                },
                Scope.SEND,
            ),
            "get": secured(
                {
                    "operationId": "list_broadcasts",
                    "summary": "Broadcasts, newest first, with their counts",
                    "parameters": list(PAGE_PARAMS),
                    "responses": {
                        "200": json_content("BroadcastPage", "one page"),
                        **error_responses("400", "401", "403"),
                    },
                },
                Scope.SEND,
            ),
        },
        BROADCAST_PATH: {
            "get": secured(
                {
                    "operationId": "get_broadcast",
                    "summary": "A broadcast's state and counts",
                    "parameters": [broadcast_id],
                    "responses": {
                        "200": json_content("Broadcast", "the broadcast"),
                        **error_responses(*errors),
                    },
                },
                Scope.SEND,
            )
        },
        f"{BROADCAST_PATH}/pause": act("pause", "Stop expanding and hold its queued messages"),
        f"{BROADCAST_PATH}/resume": act("resume", "Expand and send again"),
        f"{BROADCAST_PATH}/cancel": act("cancel", "Cancel its rows and queued messages"),
        RECIPIENTS_PATH: {
            "get": secured(
                {
                    "operationId": "list_broadcast_recipients",
                    "summary": "One row per recipient: input, message, state, reply",
                    "description": "JSON pages, or the whole export as CSV (format=csv, or "
                    "Accept: text/csv), streamed. Holds numbers: audited as a read.",
                    "parameters": [
                        broadcast_id,
                        *PAGE_PARAMS,
                        param("format", "query", {"type": "string", "enum": ["json", "csv"]}, ""),
                    ],
                    "responses": {
                        "200": {
                            "description": "the rows",
                            "content": {
                                "application/json": {"schema": ref("BroadcastRecipientPage")},
                                CSV_MEDIA_TYPE: {"schema": STR},
                            },
                        },
                        **error_responses("400", *errors),
                    },
                },
                Scope.READ,
            )
        },
    }
