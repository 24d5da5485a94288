"""OpenAPI fragments for ``/v1/webhooks``, in the style of ``gateway.api.openapi``.

``paths()`` and ``schemas()`` merge into ``document()``'s ``paths`` and
``components.schemas``; :func:`merged` does exactly that for a given document.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from gateway.api.validation import DEFAULT_PAGE_LIMIT, MAX_CURSOR_CHARS, MAX_PAGE_LIMIT
from gateway.webhooks.api import MAX_ACCOUNT_SID_CHARS, MAX_SECRET_CHARS
from gateway.webhooks.events import ALL_KINDS
from gateway.webhooks.outbox import STATES
from gateway.webhooks.subscriptions import FORMATS, MAX_URL_CHARS, MIN_SECRET_CHARS

Schema = dict[str, Any]

_STR: Final = {"type": "string"}
_TIME: Final = {"type": "string", "format": "date-time"}
_TIME_OR_NULL: Final = {"type": ["string", "null"], "format": "date-time"}
_EVENTS: Final = {
    "type": "array",
    "items": {"type": "string", "enum": sorted(ALL_KINDS)},
    "minItems": 1,
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


def schemas() -> dict[str, Schema]:
    subscription: dict[str, Schema] = {
        "id": _STR,
        "url": _STR,
        "events": _EVENTS,
        "format": {"type": "string", "enum": list(FORMATS)},
        "account_sid": {"type": ["string", "null"]},
        "source": {"type": "string", "enum": ["config", "api"]},
        "created_at": _TIME_OR_NULL,
    }
    return {
        "WebhookCreate": _object(
            {
                "url": {"type": "string", "maxLength": MAX_URL_CHARS, "format": "uri"},
                "events": _EVENTS,
                "secret": {
                    "type": "string",
                    "minLength": MIN_SECRET_CHARS,
                    "maxLength": MAX_SECRET_CHARS,
                    "description": "HMAC key of Smsgw-Signature; generated when absent",
                },
                "format": {"type": "string", "enum": list(FORMATS), "default": "smsgw"},
                "account_sid": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_ACCOUNT_SID_CHARS,
                },
            },
            optional=("secret", "format", "account_sid"),
        ),
        "Webhook": _object(subscription),
        "WebhookCreated": _object(
            {**subscription, "secret": {"type": "string", "description": "shown only here"}}
        ),
        "WebhookList": _object({"items": {"type": "array", "items": _ref("Webhook")}}),
        "WebhookAttempt": _object(
            {
                "at": _TIME,
                "attempt": {"type": "integer", "minimum": 1},
                "status": {"type": ["integer", "null"]},
                "error": {"type": ["string", "null"]},
                "duration_ms": {"type": "number"},
            }
        ),
        "WebhookDelivery": _object(
            {
                "id": _STR,
                "event": {"type": "string", "enum": sorted(ALL_KINDS)},
                "state": {"type": "string", "enum": list(STATES)},
                "created_at": _TIME,
                "attempts": {"type": "integer", "minimum": 0},
                "next_attempt_at": _TIME_OR_NULL,
                "delivered_at": _TIME_OR_NULL,
                "last_error": {"type": ["string", "null"]},
                "history": {"type": "array", "items": _ref("WebhookAttempt")},
            }
        ),
        "WebhookDeliveryPage": _object(
            {
                "items": {"type": "array", "items": _ref("WebhookDelivery")},
                "next_cursor": {"type": ["string", "null"]},
            }
        ),
    }


def _ok(schema: str, description: str, status: str = "200") -> dict[str, Any]:
    return {
        status: {
            "description": description,
            "content": {"application/json": {"schema": _ref(schema)}},
        }
    }


def _errors(*names: str) -> dict[str, Any]:
    statuses = {
        "BadRequest": "400",
        "NotFound": "404",
        "Conflict": "409",
        "PayloadTooLarge": "413",
        "UnsupportedMediaType": "415",
    }
    found = {statuses[n]: {"$ref": f"#/components/responses/{n}"} for n in names}
    return {
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "403": {"$ref": "#/components/responses/Forbidden"},
        "503": {"$ref": "#/components/responses/Unavailable"},
        "500": {"$ref": "#/components/responses/InternalError"},
        **found,
    }


def _admin(operation: dict[str, Any]) -> dict[str, Any]:
    return {
        **operation,
        "security": [{"bearer": []}],
        "x-scope": "admin",
        "description": "Needs an API key with the `admin` scope.",
    }


def paths() -> dict[str, Any]:
    sub_id = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": _STR,
        "description": "subscription id",
    }
    page = [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_PAGE_LIMIT,
                "default": DEFAULT_PAGE_LIMIT,
            },
            "description": "page size",
        },
        {
            "name": "cursor",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "maxLength": MAX_CURSOR_CHARS},
            "description": "next_cursor of the previous page",
        },
        {
            "name": "state",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": list(STATES)},
            "description": "only deliveries in this state",
        },
    ]
    return {
        "/v1/webhooks": {
            "get": _admin(
                {
                    "operationId": "list_webhooks",
                    "summary": "Webhook subscriptions (configured and created here)",
                    "responses": {**_ok("WebhookList", "every subscription"), **_errors()},
                }
            ),
            "post": _admin(
                {
                    "operationId": "create_webhook",
                    "summary": "Subscribe a URL to events; the answer shows the secret once",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("WebhookCreate")}},
                    },
                    "responses": {
                        **_ok("WebhookCreated", "created", "201"),
                        **_errors("BadRequest", "PayloadTooLarge", "UnsupportedMediaType"),
                    },
                }
            ),
        },
        "/v1/webhooks/{id}": {
            "get": _admin(
                {
                    "operationId": "get_webhook",
                    "summary": "One subscription",
                    "parameters": [sub_id],
                    "responses": {**_ok("Webhook", "the subscription"), **_errors("NotFound")},
                }
            ),
            "delete": _admin(
                {
                    "operationId": "delete_webhook",
                    "summary": "Remove a subscription; its pending deliveries are dead-lettered",
                    "parameters": [sub_id],
                    "responses": {
                        "204": {"description": "removed"},
                        **_errors("NotFound", "Conflict"),
                    },
                }
            ),
        },
        "/v1/webhooks/{id}/deliveries": {
            "get": _admin(
                {
                    "operationId": "list_webhook_deliveries",
                    "summary": "Deliveries to a subscription with every attempt, newest first",
                    "parameters": [sub_id, *page],
                    "responses": {
                        **_ok("WebhookDeliveryPage", "one page"),
                        **_errors("BadRequest", "NotFound"),
                    },
                }
            )
        },
    }


def event_schemas() -> dict[str, Schema]:
    """What a subscriber receives (``format = "smsgw"``)."""
    nullable_str: Schema = {"type": ["string", "null"]}
    message: dict[str, Schema] = {
        "message_id": _STR,
        "to": {"type": "string", "description": "E.164"},
        "state": _STR,
        "modem": nullable_str,
        "segments": {"type": "integer"},
        "tags": {"type": "array", "items": _STR},
        "metadata": {"type": "object"},
        "created_at": _TIME,
        "sent_at": _TIME_OR_NULL,
        "delivered_at": _TIME_OR_NULL,
        "error": {
            "type": ["object", "null"],
            "properties": {"code": _STR, "message": nullable_str},
        },
    }
    inbound: dict[str, Schema] = {
        "inbound_id": _STR,
        "from": {"type": "string", "description": "E.164, or the sender's name"},
        "text": _STR,
        "modem": _STR,
        "encoding": _STR,
        "parts": {"type": "integer"},
        "complete": {"type": "boolean"},
        "conversation_id": _STR,
        "received_at": _TIME,
        "sent_at": _TIME_OR_NULL,
    }
    modem: dict[str, Schema] = {"modem": _STR, "reason": nullable_str}

    def envelope(kinds: list[str], data: dict[str, Schema]) -> Schema:
        return _object(
            {
                "id": {"type": "string", "description": "delivery id, also Smsgw-Delivery"},
                "type": {"type": "string", "enum": kinds},
                "created_at": _TIME,
                "data": _object(data),
            }
        )

    return {
        "MessageEvent": envelope(["message.sent", "message.delivered", "message.failed"], message),
        "InboundEvent": envelope(["inbound.received"], inbound),
        "ModemEvent": envelope(["modem.down", "modem.up"], modem),
    }


def webhooks() -> dict[str, Any]:
    """OpenAPI 3.1 ``webhooks``: the requests the gateway makes to subscribers."""
    headers = [
        {
            "name": "Smsgw-Signature",
            "in": "header",
            "required": True,
            "schema": _STR,
            "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + '.' + raw body)>;"
            " refuse a t more than 300 s from your clock",
        },
        {"name": "Smsgw-Event", "in": "header", "required": True, "schema": _STR},
        {"name": "Smsgw-Delivery", "in": "header", "required": True, "schema": _STR},
    ]
    schema_of = {
        "message.sent": "MessageEvent",
        "message.delivered": "MessageEvent",
        "message.failed": "MessageEvent",
        "inbound.received": "InboundEvent",
        "modem.down": "ModemEvent",
        "modem.up": "ModemEvent",
    }
    return {
        kind: {
            "post": {
                "operationId": f"webhook_{kind.replace('.', '_')}",
                "summary": f"{kind}: retried with backoff until a 2xx answer",
                "parameters": headers,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(schema)}},
                },
                "responses": {"2XX": {"description": "received; anything else is retried"}},
            }
        }
        for kind, schema in schema_of.items()
    }


def merged(document: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` with the webhook paths, schemas and event requests added."""
    doc = copy.deepcopy(dict(document))
    doc["paths"].update(paths())
    doc["components"]["schemas"].update(schemas())
    doc["components"]["schemas"].update(event_schemas())
    doc["webhooks"] = webhooks()
    return doc
