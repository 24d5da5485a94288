"""The OpenAPI 3.1 description of exactly what ``routes.py`` serves.

Schemas use a small set of JSON Schema keywords (type, properties, required,
additionalProperties, items, enum, $ref, minimum/maximum, minLength/maxLength,
minItems/maxItems, format) so tests can check real answers against them.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from gateway.api.validation import (
    DEFAULT_PAGE_LIMIT,
    MAX_CURSOR_CHARS,
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_METADATA_BYTES,
    MAX_NUMBER_CHARS,
    MAX_PAGE_LIMIT,
    MAX_TAG_CHARS,
    MAX_TAGS,
    MAX_TTL_SECONDS,
    PRIORITIES,
)
from gateway.store.base import MessageState, Scope, SegmentState

Schema = dict[str, Any]

ERROR_CODES: Final = (
    "invalid_json",
    "invalid_request",
    "unknown_field",
    "invalid_number",
    "empty_text",
    "text_too_long",
    "invalid_priority",
    "invalid_time",
    "batch_too_large",
    "payload_too_large",
    "unsupported_media_type",
    "not_found",
    "method_not_allowed",
    "not_cancellable",
    "idempotency_conflict",
    "conflict",
    "unauthorized",
    "forbidden",
    "unavailable",
    "internal_error",
    "store_error",
    "modem_not_ready",
    "command_refused",
    "modem_error",
    "modem_timeout",
    "ussd_failed",
    "audit_broken",
)


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    return {**schema, "type": [schema["type"], "null"]}


def _object(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


_TIME: Final = {"type": "string", "format": "date-time"}
_TIME_OR_NULL: Final = _nullable(_TIME)
_STR: Final = {"type": "string"}
_STR_OR_NULL: Final = {"type": ["string", "null"]}
_INT: Final = {"type": "integer"}
_INT_OR_NULL: Final = {"type": ["integer", "null"]}
_TAGS: Final = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_CHARS},
    "maxItems": MAX_TAGS,
}


def _send_request() -> Schema:
    return _object(
        {
            "to": {
                "type": "string",
                "maxLength": MAX_NUMBER_CHARS,
                "description": "E.164 (+15551234567), 00-prefixed, or national with the "
                "server's default country; spaces, dots, dashes and parentheses are ignored",
            },
            "body": {"type": "string", "minLength": 1, "description": "at most max_segments"},
            "priority": {"type": "string", "enum": list(PRIORITIES), "default": "normal"},
            "send_at": {**_TIME, "description": "RFC 3339 with an offset; absent = now"},
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
                "description": f"any JSON object of at most {MAX_METADATA_BYTES} bytes",
            },
            "request_report": {"type": "boolean", "default": True},
        },
        optional=(
            "priority",
            "send_at",
            "ttl",
            "idempotency_key",
            "tags",
            "metadata",
            "request_report",
        ),
    )


def _schemas() -> dict[str, Schema]:
    return {
        "Error": _object(
            {
                "error": _object(
                    {
                        "code": {"type": "string", "enum": list(ERROR_CODES)},
                        "message": _STR,
                        "field": {
                            "type": ["string", "null"],
                            "description": "the offending field: to, messages[3].body, limit",
                        },
                    }
                )
            }
        ),
        "SendRequest": _send_request(),
        "BatchRequest": _object(
            {"messages": {"type": "array", "items": _ref("SendRequest"), "minItems": 1}}
        ),
        "Segment": _object(
            {
                "seq": {"type": "integer", "minimum": 1},
                "state": {"type": "string", "enum": [s.value for s in SegmentState]},
                "modem": _STR_OR_NULL,
                "reference": _INT_OR_NULL,
                "sent_at": _TIME_OR_NULL,
                "report_status": _INT_OR_NULL,
            }
        ),
        "Message": _object(
            {
                "id": _STR,
                "to": {"type": "string", "description": "E.164"},
                "body": {"type": "string", "description": "only for keys with the read scope"},
                "state": {"type": "string", "enum": [s.value for s in MessageState]},
                "priority": {"type": "string", "enum": list(PRIORITIES)},
                "created_at": _TIME,
                "updated_at": _TIME,
                "send_at": _TIME,
                "expires_at": _TIME_OR_NULL,
                "sent_at": _TIME_OR_NULL,
                "delivered_at": _TIME_OR_NULL,
                "encoding": {"type": "string", "enum": ["gsm7", "ucs2", "8bit"]},
                "segment_count": {"type": "integer", "minimum": 0},
                "segments": {"type": "array", "items": _ref("Segment")},
                "modem": _STR_OR_NULL,
                "attempts": {"type": "integer", "minimum": 0},
                "error": {
                    "type": ["object", "null"],
                    "properties": {"code": _STR, "message": _STR},
                    "required": ["code", "message"],
                    "additionalProperties": False,
                },
                "request_report": {"type": "boolean"},
                "tags": _TAGS,
                "metadata": {"type": "object"},
            },
            optional=("body",),
        ),
        "MessageBatch": _object({"messages": {"type": "array", "items": _ref("Message")}}),
        "MessagePage": _page("Message"),
        "Inbound": _object(
            {
                "id": _STR,
                "from": {"type": "string", "description": "E.164, national, or alphanumeric"},
                "text": _STR,
                "modem": _STR,
                "encoding": _STR,
                "received_at": _TIME,
                "sent_at": _TIME_OR_NULL,
                "parts": {"type": "integer", "minimum": 1},
                "complete": {"type": "boolean"},
                "conversation_id": _STR,
            }
        ),
        "InboundPage": _page("Inbound"),
        "Modem": _object(
            {
                "name": _STR,
                "port": _STR,
                "profile": _STR,
                "state": {"type": "string", "description": "starting, ready, down, closed, ..."},
                "reason": _STR_OR_NULL,
                "tags": {"type": "array", "items": _STR},
                "identity": {
                    **_object({k: _STR_OR_NULL for k in _IDENTITY_FIELDS}),
                    "type": ["object", "null"],
                },
                "health": {
                    **_object(
                        {
                            "signal_dbm": _INT_OR_NULL,
                            "csq": _INT_OR_NULL,
                            "registration": _STR,
                            "technology": _STR_OR_NULL,
                            "operator": _STR_OR_NULL,
                            "sim": _STR,
                            "storage_used": _INT_OR_NULL,
                            "storage_total": _INT_OR_NULL,
                        }
                    ),
                    "type": ["object", "null"],
                },
                "sent_total": {"type": "integer", "minimum": 0},
                "failed_total": {"type": "integer", "minimum": 0},
                "last_error": _STR_OR_NULL,
                "last_seen": _TIME_OR_NULL,
                "balance": {
                    "type": ["number", "null"],
                    "description": "prepaid credit from the last [modems.balance] check",
                },
                "balance_text": _STR_OR_NULL,
                "balance_at": _TIME_OR_NULL,
            }
        ),
        "ModemList": _object({"modems": {"type": "array", "items": _ref("Modem")}}),
        "Event": _object(
            {
                "id": _INT,
                "at": _TIME,
                "kind": _STR,
                "modem": _STR_OR_NULL,
                "detail": {"type": "object"},
            }
        ),
        "EventPage": _page("Event"),
        "Status": _object({"status": {"type": "string", "enum": ["ok", "ready"]}}),
    }


_IDENTITY_FIELDS: Final = ("manufacturer", "model", "revision", "imei", "imsi", "iccid")


def _page(item: str) -> Schema:
    return _object(
        {
            "items": {"type": "array", "items": _ref(item)},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "pass as cursor for the next page; null on the last page",
            },
        }
    )


def _error_responses() -> dict[str, Any]:
    def error(description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"application/json": {"schema": _ref("Error")}},
        }

    return {
        "BadRequest": error(
            "invalid_json, invalid_request, unknown_field, invalid_number, empty_text, "
            "text_too_long, invalid_priority, invalid_time or batch_too_large"
        ),
        "Unauthorized": {
            **error("unauthorized: missing, unknown or revoked API key"),
            "headers": {"WWW-Authenticate": {"schema": _STR}},
        },
        "Forbidden": error("forbidden: the key lacks the scope"),
        "NotFound": error("not_found"),
        "Conflict": error("not_cancellable or idempotency_conflict"),
        "PayloadTooLarge": error("payload_too_large: body over the server's max_body_bytes"),
        "UnsupportedMediaType": error("unsupported_media_type: Content-Type is not JSON"),
        "Unavailable": error("unavailable"),
        "InternalError": error("internal_error, or store_error when storage failed"),
    }


def _ok(schema: str, description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema)}},
        **extra,
    }


def _errors(*names: str) -> dict[str, Any]:
    statuses = {
        "BadRequest": "400",
        "Unauthorized": "401",
        "Forbidden": "403",
        "NotFound": "404",
        "Conflict": "409",
        "PayloadTooLarge": "413",
        "UnsupportedMediaType": "415",
        "Unavailable": "503",
        "InternalError": "500",
    }
    found = {statuses[n]: {"$ref": f"#/components/responses/{n}"} for n in names}
    found["500"] = {"$ref": "#/components/responses/InternalError"}
    return found


def _param(
    name: str, where: str, schema: Schema, description: str, *, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "schema": schema,
        "description": description,
    }


def _secured(operation: dict[str, Any], scope: Scope) -> dict[str, Any]:
    description = f"Needs an API key with the `{scope.value}` scope (or `admin`)."
    if scope is Scope.ADMIN:
        description = "Needs an API key with the `admin` scope."
    # Every key check reads the store, which answers unavailable while the daemon stops.
    responses = {"503": {"$ref": "#/components/responses/Unavailable"}, **operation["responses"]}
    return {
        **operation,
        "responses": responses,
        "security": [{"bearer": []}],
        "x-scope": scope.value,
        "description": (operation.get("description", "") + " " + description).strip(),
    }


def _public(operation: dict[str, Any]) -> dict[str, Any]:
    return {**operation, "security": [], "x-scope": None}


_AUTH_ERRORS: Final = ("Unauthorized", "Forbidden")
_PAGE_PARAMS: Final = (
    _param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_LIMIT, "default": DEFAULT_PAGE_LIMIT},
        "page size",
    ),
    _param(
        "cursor",
        "query",
        {"type": "string", "maxLength": MAX_CURSOR_CHARS},
        "next_cursor of the previous page",
    ),
)


def _paths() -> dict[str, Any]:
    message_id = _param("id", "path", _STR, "message id", required=True)
    inbound_id = _param("id", "path", _STR, "inbound message id", required=True)

    def body(schema: str) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}

    return {
        "/v1/messages": {
            "post": _secured(
                {
                    "operationId": "send_message",
                    "summary": "Queue one message",
                    "description": "Committed to disk before the answer. A repeated "
                    "idempotency key with the same request returns the first message (200).",
                    "parameters": [
                        _param(
                            "Idempotency-Key",
                            "header",
                            {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY_CHARS},
                            "same as idempotency_key in the body (they must agree)",
                        )
                    ],
                    "requestBody": body("SendRequest"),
                    "responses": {
                        "202": _ok(
                            "Message",
                            "accepted and queued",
                            headers={"Location": {"schema": _STR}},
                        ),
                        "200": _ok(
                            "Message",
                            "idempotent replay: the message first accepted with this key",
                            headers={"Location": {"schema": _STR}},
                        ),
                        **_errors(
                            "BadRequest",
                            *_AUTH_ERRORS,
                            "Conflict",
                            "PayloadTooLarge",
                            "UnsupportedMediaType",
                            "Unavailable",
                        ),
                    },
                },
                Scope.SEND,
            ),
            "get": _secured(
                {
                    "operationId": "list_messages",
                    "summary": "List messages, newest first",
                    "parameters": [
                        _param(
                            "state",
                            "query",
                            {"type": "string", "enum": [s.value for s in MessageState]},
                            "only messages in this state",
                        ),
                        _param(
                            "to",
                            "query",
                            _STR,
                            "only messages to this number (international form, or national "
                            "with the server's default country)",
                        ),
                        _param("tag", "query", _STR, "only messages carrying this tag"),
                        _param("since", "query", _TIME, "created at or after (RFC 3339)"),
                        _param("until", "query", _TIME, "created before (RFC 3339)"),
                        *_PAGE_PARAMS,
                    ],
                    "responses": {
                        "200": _ok("MessagePage", "one page"),
                        **_errors("BadRequest", *_AUTH_ERRORS),
                    },
                },
                Scope.READ,
            ),
        },
        "/v1/messages/batch": {
            "post": _secured(
                {
                    "operationId": "send_batch",
                    "summary": "Queue up to max_batch messages, all or nothing",
                    "description": "A bad item rejects the whole batch; the error's field names "
                    "it (messages[3].to). Idempotency keys go in each item. Answers 200 "
                    "instead of 202 when every item was an idempotent replay.",
                    "requestBody": body("BatchRequest"),
                    "responses": {
                        "202": _ok("MessageBatch", "accepted, in request order"),
                        "200": _ok("MessageBatch", "every item was an idempotent replay"),
                        **_errors(
                            "BadRequest",
                            *_AUTH_ERRORS,
                            "Conflict",
                            "PayloadTooLarge",
                            "UnsupportedMediaType",
                            "Unavailable",
                        ),
                    },
                },
                Scope.SEND,
            )
        },
        "/v1/messages/{id}": {
            "get": _secured(
                {
                    "operationId": "get_message",
                    "summary": "One message with its segments",
                    "parameters": [message_id],
                    "responses": {
                        "200": _ok("Message", "the message"),
                        **_errors(*_AUTH_ERRORS, "NotFound"),
                    },
                },
                Scope.READ,
            ),
            "delete": _secured(
                {
                    "operationId": "cancel_message",
                    "summary": "Cancel a message no modem has started on",
                    "parameters": [message_id],
                    "responses": {
                        "200": _ok("Message", "cancelled"),
                        **_errors(*_AUTH_ERRORS, "NotFound", "Conflict"),
                    },
                },
                Scope.SEND,
            ),
        },
        "/v1/inbound": {
            "get": _secured(
                {
                    "operationId": "list_inbound",
                    "summary": "Received messages, newest first",
                    "parameters": [
                        _param("from", "query", _STR, "only from this sender"),
                        _param("modem", "query", _STR, "only received on this modem"),
                        *_PAGE_PARAMS,
                    ],
                    "responses": {
                        "200": _ok("InboundPage", "one page"),
                        **_errors("BadRequest", *_AUTH_ERRORS),
                    },
                },
                Scope.READ,
            )
        },
        "/v1/inbound/{id}": {
            "get": _secured(
                {
                    "operationId": "get_inbound",
                    "summary": "One received message",
                    "parameters": [inbound_id],
                    "responses": {
                        "200": _ok("Inbound", "the message"),
                        **_errors(*_AUTH_ERRORS, "NotFound"),
                    },
                },
                Scope.READ,
            )
        },
        "/v1/modems": {
            "get": _secured(
                {
                    "operationId": "list_modems",
                    "summary": "Modems with identity, state, signal and counters",
                    "responses": {
                        "200": _ok("ModemList", "every configured modem"),
                        **_errors(*_AUTH_ERRORS),
                    },
                },
                Scope.READ,
            )
        },
        "/v1/events": {
            "get": _secured(
                {
                    "operationId": "list_events",
                    "summary": "Modem state changes, resets and errors",
                    "parameters": list(_PAGE_PARAMS),
                    "responses": {
                        "200": _ok("EventPage", "one page"),
                        **_errors("BadRequest", *_AUTH_ERRORS),
                    },
                },
                Scope.ADMIN,
            )
        },
        "/v1/openapi.json": {
            "get": _public(
                {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **_errors(),
                    },
                }
            )
        },
        "/healthz": {
            "get": _public(
                {
                    "operationId": "healthz",
                    "summary": "The process is alive",
                    "responses": {"200": _ok("Status", "alive"), **_errors()},
                }
            )
        },
        "/readyz": {
            "get": _public(
                {
                    "operationId": "readyz",
                    "summary": "The store is open and at least one modem is ready",
                    "responses": {
                        "200": _ok("Status", "ready"),
                        **_errors("Unavailable"),
                    },
                }
            )
        },
    }


@cache
def document() -> dict[str, Any]:
    """Built once; callers must not mutate it."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "smsgw",
            "version": "1",
            "description": "Self-hosted SMS gateway. Every error answers with the Error schema "
            "and a stable code; unknown routes answer not_found (404), wrong methods "
            "method_not_allowed (405).",
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "responses": _error_responses(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API key created with `smsgw keys create`; scopes: "
                    "send, read, admin",
                }
            },
        },
    }
