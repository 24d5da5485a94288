"""OpenAPI fragments for ``/v1/webhooks`` and the requests the gateway makes to subscribers.

Built with ``gateway.http.openapi_parts``; :func:`merged` adds them to a given document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.config import ALL_KINDS
from gateway.config import WEBHOOK_FORMATS as FORMATS
from gateway.config import WEBHOOK_SECRET_MIN_CHARS as MIN_SECRET_CHARS
from gateway.config import WEBHOOK_URL_MAX_CHARS as MAX_URL_CHARS
from gateway.http.openapi_parts import (
    PAGE_PARAMS,
    Schema,
    error_responses,
    extend,
    json_body,
    json_content,
    nullable,
    object_schema,
    page_schema,
    param,
    ref,
    secured,
)
from gateway.store.base import Scope
from gateway.webhooks.api import MAX_ACCOUNT_SID_CHARS, MAX_SECRET_CHARS
from gateway.webhooks.outbox import STATES

_STR: Final = {"type": "string"}
_TIME: Final = {"type": "string", "format": "date-time"}
_TIME_OR_NULL: Final = nullable(_TIME)
_EVENTS: Final = {
    "type": "array",
    "items": {"type": "string", "enum": sorted(ALL_KINDS)},
    "minItems": 1,
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
        "WebhookCreate": object_schema(
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
        "Webhook": object_schema(subscription),
        "WebhookCreated": object_schema(
            {**subscription, "secret": {"type": "string", "description": "shown only here"}}
        ),
        "WebhookList": object_schema({"items": {"type": "array", "items": ref("Webhook")}}),
        "WebhookAttempt": object_schema(
            {
                "at": _TIME,
                "attempt": {"type": "integer", "minimum": 1},
                "status": {"type": ["integer", "null"]},
                "error": {"type": ["string", "null"]},
                "duration_ms": {"type": "number"},
            }
        ),
        "WebhookDelivery": object_schema(
            {
                "id": _STR,
                "event": {"type": "string", "enum": sorted(ALL_KINDS)},
                "state": {"type": "string", "enum": list(STATES)},
                "created_at": _TIME,
                "attempts": {"type": "integer", "minimum": 0},
                "next_attempt_at": _TIME_OR_NULL,
                "delivered_at": _TIME_OR_NULL,
                "last_error": {"type": ["string", "null"]},
                "history": {"type": "array", "items": ref("WebhookAttempt")},
            }
        ),
        "WebhookDeliveryPage": page_schema("WebhookDelivery"),
    }


_AUTH_ERRORS: Final = ("401", "403")


def paths() -> dict[str, Any]:
    sub_id = param("id", "path", _STR, "subscription id", required=True)
    state = param(
        "state",
        "query",
        {"type": "string", "enum": list(STATES)},
        "only deliveries in this state",
    )
    return {
        "/v1/webhooks": {
            "get": secured(
                {
                    "operationId": "list_webhooks",
                    "summary": "Webhook subscriptions (configured and created here)",
                    "responses": {
                        "200": json_content("WebhookList", "every subscription"),
                        **error_responses(*_AUTH_ERRORS),
                    },
                },
                Scope.ADMIN,
            ),
            "post": secured(
                {
                    "operationId": "create_webhook",
                    "summary": "Subscribe a URL to events; the answer shows the secret once",
                    "requestBody": json_body("WebhookCreate"),
                    "responses": {
                        "201": json_content("WebhookCreated", "created"),
                        **error_responses("400", *_AUTH_ERRORS, "413", "415"),
                    },
                },
                Scope.ADMIN,
            ),
        },
        "/v1/webhooks/{id}": {
            "get": secured(
                {
                    "operationId": "get_webhook",
                    "summary": "One subscription",
                    "parameters": [sub_id],
                    "responses": {
                        "200": json_content("Webhook", "the subscription"),
                        **error_responses(*_AUTH_ERRORS, "404"),
                    },
                },
                Scope.ADMIN,
            ),
            "delete": secured(
                {
                    "operationId": "delete_webhook",
                    "summary": "Remove a subscription; its pending deliveries are dead-lettered",
                    "parameters": [sub_id],
                    "responses": {
                        "204": {"description": "removed"},
                        **error_responses(*_AUTH_ERRORS, "404", "409"),
                    },
                },
                Scope.ADMIN,
            ),
        },
        "/v1/webhooks/{id}/deliveries": {
            "get": secured(
                {
                    "operationId": "list_webhook_deliveries",
                    "summary": "Deliveries to a subscription with every attempt, newest first",
                    "parameters": [sub_id, *PAGE_PARAMS, state],
                    "responses": {
                        "200": json_content("WebhookDeliveryPage", "one page"),
                        **error_responses("400", *_AUTH_ERRORS, "404"),
                    },
                },
                Scope.ADMIN,
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
        return object_schema(
            {
                "id": {"type": "string", "description": "delivery id, also Smsgw-Delivery"},
                "type": {"type": "string", "enum": kinds},
                "created_at": _TIME,
                "data": object_schema(data),
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
                "requestBody": json_body(schema),
                "responses": {"2XX": {"description": "received; anything else is retried"}},
            }
        }
        for kind, schema in schema_of.items()
    }


def merged(document: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` with the webhook paths, schemas and event requests added."""
    return extend(
        document,
        paths=paths(),
        schemas={**schemas(), **event_schemas()},
        webhooks=webhooks(),
    )
