"""The OpenAPI 3.1 description of exactly what ``routes.py`` serves.

Schemas use a small set of JSON Schema keywords (type, properties, required,
additionalProperties, items, enum, $ref, minimum/maximum, minLength/maxLength,
minItems/maxItems, format) so tests can check real answers against them.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from gateway.http.openapi_parts import (
    PAGE_PARAMS,
    Schema,
    error_responses,
    json_body,
    json_content,
    nullable,
    object_schema,
    page_schema,
    param,
    public,
    ref,
    secured,
)
from gateway.http.validation import (
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_METADATA_BYTES,
    MAX_NUMBER_CHARS,
    MAX_TAG_CHARS,
    MAX_TAGS,
    MAX_TTL_SECONDS,
    PRIORITIES,
    SEND_FIELDS,
)
from gateway.store.base import MessageState, Scope, SegmentState

ERROR_CODES: Final = (
    "invalid_json",
    "invalid_request",
    "unknown_field",
    "invalid_number",
    "empty_text",
    "invalid_text",
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
    "callback_not_allowed",
)


_TIME: Final = {"type": "string", "format": "date-time"}
_TIME_OR_NULL: Final = nullable(_TIME)
_STR: Final = {"type": "string"}
_STR_OR_NULL: Final = {"type": ["string", "null"]}
_INT: Final = {"type": "integer"}
_INT_OR_NULL: Final = {"type": ["integer", "null"]}
_MESSAGE_STATE: Final = {"type": "string", "enum": [state.value for state in MessageState]}
_ENCODING: Final = {"type": "string", "enum": ["gsm7", "ucs2", "8bit"]}
_TAGS: Final = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_CHARS},
    "maxItems": MAX_TAGS,
}


def _send_request() -> Schema:
    return object_schema(
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
        optional=tuple(SEND_FIELDS - {"to", "body"}),
    )


def _schemas() -> dict[str, Schema]:
    return {
        "Error": object_schema(
            {
                "error": object_schema(
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
        "BatchRequest": object_schema(
            {"messages": {"type": "array", "items": ref("SendRequest"), "minItems": 1}}
        ),
        "Segment": object_schema(
            {
                "seq": {"type": "integer", "minimum": 1},
                "state": {"type": "string", "enum": [s.value for s in SegmentState]},
                "modem": _STR_OR_NULL,
                "reference": _INT_OR_NULL,
                "sent_at": _TIME_OR_NULL,
                "report_status": _INT_OR_NULL,
            }
        ),
        "Message": object_schema(
            {
                "id": _STR,
                "to": {"type": "string", "description": "E.164"},
                "body": {"type": "string", "description": "only for keys with the read scope"},
                "state": _MESSAGE_STATE,
                "priority": {"type": "string", "enum": list(PRIORITIES)},
                "created_at": _TIME,
                "updated_at": _TIME,
                "send_at": _TIME,
                "expires_at": _TIME_OR_NULL,
                "sent_at": _TIME_OR_NULL,
                "delivered_at": _TIME_OR_NULL,
                "encoding": _ENCODING,
                "segment_count": {"type": "integer", "minimum": 0},
                "segments": {"type": "array", "items": ref("Segment")},
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
        "BatchItem": object_schema(
            {
                "id": _STR,
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
        "Inbound": object_schema(
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
        "InboundPage": page_schema("Inbound"),
        "Modem": object_schema(
            {
                "name": _STR,
                "port": _STR,
                "profile": _STR,
                "state": {"type": "string", "description": "starting, ready, down, closed, ..."},
                "reason": _STR_OR_NULL,
                "tags": {"type": "array", "items": _STR},
                "identity": {
                    **object_schema({k: _STR_OR_NULL for k in _IDENTITY_FIELDS}),
                    "type": ["object", "null"],
                },
                "health": {
                    **object_schema(
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
        "ModemList": object_schema({"modems": {"type": "array", "items": ref("Modem")}}),
        "Event": object_schema(
            {
                "id": _INT,
                "at": _TIME,
                "kind": _STR,
                "modem": _STR_OR_NULL,
                "detail": {"type": "object"},
            }
        ),
        "EventPage": page_schema("Event"),
        "Status": object_schema({"status": {"type": "string", "enum": ["ok", "ready"]}}),
    }


_IDENTITY_FIELDS: Final = ("manufacturer", "model", "revision", "imei", "imsi", "iccid")


def _error_responses() -> dict[str, Any]:
    def error(description: str) -> dict[str, Any]:
        return json_content("Error", description)

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


_AUTH_ERRORS: Final = ("401", "403")
_SEND_ERRORS: Final = ("400", *_AUTH_ERRORS, "409", "413", "415", "503")


def _paths() -> dict[str, Any]:
    message_id = param("id", "path", _STR, "message id", required=True)
    inbound_id = param("id", "path", _STR, "inbound message id", required=True)
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
                            {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY_CHARS},
                            "same as idempotency_key in the body (they must agree)",
                        )
                    ],
                    "requestBody": json_body("SendRequest"),
                    "responses": {
                        "202": json_content(
                            "Message",
                            "accepted and queued",
                            headers={"Location": {"schema": _STR}},
                        ),
                        "200": json_content(
                            "Message",
                            "idempotent replay: the message first accepted with this key",
                            headers={"Location": {"schema": _STR}},
                        ),
                        **error_responses(*_SEND_ERRORS),
                    },
                },
                Scope.SEND,
            ),
            "get": secured(
                {
                    "operationId": "list_messages",
                    "summary": "List messages, newest first",
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
                            _STR,
                            "only messages to this number (international form, or national "
                            "with the server's default country)",
                        ),
                        param("tag", "query", _STR, "only messages carrying this tag"),
                        param("since", "query", _TIME, "created at or after (RFC 3339)"),
                        param("until", "query", _TIME, "created before (RFC 3339)"),
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
                    "parameters": [message_id],
                    "responses": {
                        "200": json_content("Message", "cancelled"),
                        **error_responses(*_AUTH_ERRORS, "404", "409"),
                    },
                },
                Scope.SEND,
            ),
        },
        "/v1/inbound": {
            "get": secured(
                {
                    "operationId": "list_inbound",
                    "summary": "Received messages, newest first",
                    "parameters": [
                        param("from", "query", _STR, "only from this sender"),
                        param("modem", "query", _STR, "only received on this modem"),
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
                    "parameters": [inbound_id],
                    "responses": {
                        "200": json_content("Inbound", "the message"),
                        **error_responses(*_AUTH_ERRORS, "404"),
                    },
                },
                Scope.READ,
            )
        },
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
        "/v1/openapi.json": {
            "get": public(
                {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **error_responses(),
                    },
                }
            )
        },
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
