"""``/v1/webhooks``: list, create and delete subscriptions; see each one's deliveries.

The feature's OpenAPI part also describes the requests the gateway makes to
subscribers (the document's ``webhooks``).

Admin scope throughout. A subscription's secret is shown once, in the answer to
its creation; listings never show it. Deliveries show state, attempts and the
HTTP status of each attempt, never the payload (it holds PHI).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final
from urllib.parse import urlsplit

from aiohttp import web

from gateway.config import ALL_KINDS, check_events, check_url
from gateway.config import WEBHOOK_FORMATS as FORMATS
from gateway.config import WEBHOOK_SECRET_MIN_CHARS as MIN_SECRET_CHARS
from gateway.config import WEBHOOK_URL_MAX_CHARS as MAX_URL_CHARS
from gateway.errors import (
    CallbackNotAllowed,
    NotFound,
    UnknownField,
    UnsupportedMediaType,
    ValidationError,
)
from gateway.http.context import API_KEY
from gateway.http.feature import Feature, Route
from gateway.http.openapi_builders import (
    PAGE_PARAMS,
    STR,
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
)
from gateway.http.resources import JsonObject, json_response
from gateway.http.validation import (
    page_cursor,
    page_limit,
    parse_json_object,
    parse_time,
    query_params,
)
from gateway.store.base import (
    CONSENT_OPTED_IN,
    CONSENT_OPTED_OUT,
    DELIVERY_STATES,
    MESSAGE_CHANGES,
    SECURE_ANSWERED,
    SECURE_LOCKED,
    SECURE_READ,
    Delivery,
    Scope,
    Store,
)
from gateway.timefmt import rfc3339
from gateway.webhooks.hosts import CallbackHosts
from gateway.webhooks.subscriptions import Registry, Subscription

MAX_SECRET_CHARS: Final = 256
MAX_ACCOUNT_SID_CHARS: Final = 64
MESSAGE_KINDS: Final = tuple(MESSAGE_CHANGES.values())  # in the order a message lives them
CONSENT_KINDS: Final = (CONSENT_OPTED_OUT, CONSENT_OPTED_IN)
SECURE_KINDS: Final = (SECURE_READ, SECURE_ANSWERED, SECURE_LOCKED)
_CREATE_FIELDS: Final = frozenset({"url", "events", "secret", "format", "account_sid"})
_REDELIVER_FIELDS: Final = frozenset({"delivery_id", "since"})
MAX_DELIVERY_ID_CHARS: Final = 64
REDELIVER_PATH: Final = "/v1/webhooks/{id}/deliveries/redeliver"
REDELIVER_ACTION: Final = "webhook.redeliver"  # the audit trail's actions
CREATE_ACTION: Final = "webhook.create"
DELETE_ACTION: Final = "webhook.delete"


class WebhookApi:
    def __init__(self, registry: Registry, store: Store, hosts: CallbackHosts) -> None:
        self.registry = registry
        self.store = store
        self.hosts = hosts

    def feature(self) -> Feature:
        """Admin scope throughout; described by :data:`DESCRIPTION`."""
        return replace(
            DESCRIPTION,
            routes=(
                Route("GET", "/v1/webhooks", self.list_subscriptions, Scope.ADMIN),
                Route("POST", "/v1/webhooks", self.create_subscription, Scope.ADMIN),
                Route("GET", "/v1/webhooks/{id}", self.get_subscription, Scope.ADMIN),
                Route("DELETE", "/v1/webhooks/{id}", self.delete_subscription, Scope.ADMIN),
                Route("GET", "/v1/webhooks/{id}/deliveries", self.list_deliveries, Scope.ADMIN),
                Route("POST", REDELIVER_PATH, self.redeliver, Scope.ADMIN),
            ),
        )

    async def list_subscriptions(self, request: web.Request) -> web.Response:
        query_params(request.query, frozenset())
        return json_response({"items": [subscription_json(s) for s in self.registry.all()]})

    async def get_subscription(self, request: web.Request) -> web.Response:
        return json_response(subscription_json(self._find(request)))

    async def create_subscription(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            raise UnsupportedMediaType("Content-Type must be application/json")
        body = parse_json_object(await request.read())
        for name in body:
            if name not in _CREATE_FIELDS:
                raise UnknownField("unknown field", field=name[:64])
        url = check_url(body.get("url"), "url")
        if not self.hosts.matches(url):
            raise CallbackNotAllowed(
                "url: the host is not in the gateway's callback_hosts", field="url"
            )
        events = check_events(body.get("events"), "events")
        secret = body.get("secret")
        if secret is not None and (
            not isinstance(secret, str) or not MIN_SECRET_CHARS <= len(secret) <= MAX_SECRET_CHARS
        ):
            raise ValidationError(
                f"secret must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters",
                field="secret",
            )
        fmt = body.get("format", "smsgw")
        if fmt not in FORMATS:
            raise ValidationError(f"format must be one of: {', '.join(FORMATS)}", field="format")
        account_sid = body.get("account_sid")
        if account_sid is not None and (
            not isinstance(account_sid, str) or not 0 < len(account_sid) <= MAX_ACCOUNT_SID_CHARS
        ):
            raise ValidationError("account_sid must be a short string", field="account_sid")
        sub = await self.registry.create(
            url, events, secret=secret, fmt=str(fmt), account_sid=account_sid
        )
        # The host only: a URL's path or query may carry an identifier, the secret is one.
        detail = {
            "events": sorted(e.value for e in sub.events),
            "format": sub.format,
            "host": _host(url),
        }
        await self.store.audit(request[API_KEY].id, CREATE_ACTION, detail, subject=sub.id)
        answer = subscription_json(sub)
        answer["secret"] = sub.secret.decode()
        return json_response(answer, status=201)

    async def delete_subscription(self, request: web.Request) -> web.Response:
        sub = self._find(request)
        await self.registry.delete(sub.id)
        await self.store.audit(request[API_KEY].id, DELETE_ACTION, {}, subject=sub.id)
        return web.Response(status=204)

    async def list_deliveries(self, request: web.Request) -> web.Response:
        sub = self._find(request)
        params = query_params(request.query, frozenset({"limit", "cursor", "state"}))
        limit = page_limit(params)
        cursor = page_cursor(params)
        state = params.get("state")
        if state is not None and state not in DELIVERY_STATES:
            raise ValidationError(
                "state must be one of: " + ", ".join(DELIVERY_STATES), field="state"
            )
        found = await self.store.list_deliveries(sub.id, state=state, cursor=cursor, limit=limit)
        return json_response(
            {"items": [delivery_json(d) for d in found.items], "next_cursor": found.next_cursor}
        )

    async def redeliver(self, request: web.Request) -> web.Response:
        """Dead deliveries sent again once the subscriber is fixed: the one named, those
        created since a time, or all of them (an empty body). Audited."""
        sub = self._find(request)
        if request.content_type != "application/json":
            raise UnsupportedMediaType("Content-Type must be application/json")
        raw = await request.read()
        body = parse_json_object(raw) if raw.strip() else {}
        for name in body:
            if name not in _REDELIVER_FIELDS:
                raise UnknownField("unknown field", field=name[:64])
        delivery_id = body.get("delivery_id")
        if delivery_id is not None and not (
            isinstance(delivery_id, str) and 0 < len(delivery_id) <= MAX_DELIVERY_ID_CHARS
        ):
            raise ValidationError("delivery_id must be a delivery's id", field="delivery_id")
        since_raw = body.get("since")
        since = None
        if since_raw is not None:
            if delivery_id is not None:
                raise ValidationError("give delivery_id or since, not both", field="since")
            if not isinstance(since_raw, str):
                raise ValidationError("since must be an RFC 3339 time", field="since")
            since = parse_time(since_raw, "since")
        count = await self.store.redeliver(sub.id, delivery_id=delivery_id, since=since)
        if delivery_id is not None and count == 0:
            raise NotFound(
                "no dead delivery with this id for this subscription", field="delivery_id"
            )
        detail = {"delivery_id": delivery_id, "since": since_raw, "redelivered": count}
        await self.store.audit(request[API_KEY].id, REDELIVER_ACTION, detail, subject=sub.id)
        return json_response({"redelivered": count})

    def _find(self, request: web.Request) -> Subscription:
        sub = self.registry.get(request.match_info["id"])
        if sub is None:
            raise NotFound("no such webhook subscription", field="id")
        return sub


def subscription_json(sub: Subscription) -> JsonObject:
    return {
        "id": sub.id,
        "url": sub.url,
        "events": sorted(e.value for e in sub.events),
        "format": sub.format,
        "account_sid": sub.account_sid,
        "source": "config" if sub.from_config else "api",
        "created_at": rfc3339(sub.created_at) if not sub.from_config else None,
    }


def delivery_json(d: Delivery) -> JsonObject:
    return {
        "id": d.id,
        "event": d.kind,
        "state": d.state,
        "created_at": rfc3339(d.created_at),
        "attempts": d.attempts,
        "next_attempt_at": rfc3339(d.next_at),
        "delivered_at": rfc3339(d.delivered_at),
        "last_error": d.last_error,
        "history": [
            {
                "at": rfc3339(a.at),
                "attempt": a.attempt,
                "status": a.status,
                "error": a.error,
                "duration_ms": round(a.duration * 1000, 1),
            }
            for a in d.history
        ],
    }


# OpenAPI -------------------------------------------------------------------------------

_EVENTS: Final = {
    "type": "array",
    "items": {"type": "string", "enum": sorted(ALL_KINDS)},
    "minItems": 1,
}


def _schemas() -> dict[str, Schema]:
    subscription: dict[str, Schema] = {
        "id": STR,
        "url": STR,
        "events": _EVENTS,
        "format": {"type": "string", "enum": list(FORMATS)},
        "account_sid": {"type": ["string", "null"]},
        "source": {"type": "string", "enum": ["config", "api"]},
        "created_at": TIME_OR_NULL,
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
                "at": TIME,
                "attempt": {"type": "integer", "minimum": 1},
                "status": {"type": ["integer", "null"]},
                "error": {"type": ["string", "null"]},
                "duration_ms": {"type": "number"},
            }
        ),
        "WebhookDelivery": object_schema(
            {
                "id": STR,
                "event": {"type": "string", "enum": sorted(ALL_KINDS)},
                "state": {"type": "string", "enum": list(DELIVERY_STATES)},
                "created_at": TIME,
                "attempts": {"type": "integer", "minimum": 0},
                "next_attempt_at": TIME_OR_NULL,
                "delivered_at": TIME_OR_NULL,
                "last_error": {"type": ["string", "null"]},
                "history": {"type": "array", "items": ref("WebhookAttempt")},
            }
        ),
        "WebhookDeliveryPage": page_schema("WebhookDelivery"),
        "WebhookRedeliver": {
            **object_schema(
                {
                    "delivery_id": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_DELIVERY_ID_CHARS,
                        "description": "this dead delivery only",
                    },
                    "since": {**TIME, "description": "dead deliveries created at or after"},
                },
                optional=("delivery_id", "since"),
            ),
            "description": "one of delivery_id or since, or neither: every dead delivery",
            "maxProperties": 1,
        },
        "WebhookRedelivered": object_schema(
            {"redelivered": {"type": "integer", "minimum": 0, "description": "pending again"}}
        ),
    }


_AUTH_ERRORS: Final = ("401", "403")


def _paths() -> dict[str, Any]:
    sub_id = param("id", "path", STR, "subscription id", required=True)
    state = param(
        "state",
        "query",
        {"type": "string", "enum": list(DELIVERY_STATES)},
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
        REDELIVER_PATH: {
            "post": secured(
                {
                    "operationId": "redeliver_webhook_deliveries",
                    "summary": "Send dead deliveries again (one, those since a time, or all),"
                    " each with a fresh count of attempts; audited",
                    "parameters": [sub_id],
                    "requestBody": json_body("WebhookRedeliver"),
                    "responses": {
                        "200": json_content("WebhookRedelivered", "how many are pending again"),
                        **error_responses("400", *_AUTH_ERRORS, "404", "413", "415"),
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
        "message_id": STR,
        "to": {"type": "string", "description": "E.164"},
        "state": STR,
        "modem": nullable_str,
        "segments": {"type": "integer"},
        "conversation_id": {
            **nullable_str,
            "description": "the thread with the recipient (GET /v1/conversations/{id}); "
            "null for a message accepted before conversations were kept",
        },
        "tags": {"type": "array", "items": STR},
        "metadata": {"type": "object"},
        "created_at": TIME,
        "sent_at": TIME_OR_NULL,
        "delivered_at": TIME_OR_NULL,
        "error": {
            "type": ["object", "null"],
            "properties": {"code": STR, "message": nullable_str},
        },
    }
    inbound: dict[str, Schema] = {
        "inbound_id": STR,
        "from": {"type": "string", "description": "E.164, or the sender's name"},
        "text": STR,
        "modem": STR,
        "encoding": STR,
        "parts": {"type": "integer"},
        "complete": {"type": "boolean"},
        "conversation_id": STR,
        "received_at": TIME,
        "sent_at": TIME_OR_NULL,
        "in_reply_to": {**nullable_str, "description": "the message whose replies it answered"},
        "reply_value": {**nullable_str, "description": "the meaning it answered"},
        "channel": {
            "type": "string",
            "enum": ["sms", "secure_page"],
            "description": "secure_page: typed on a secure message's page",
        },
    }
    secure: dict[str, Schema] = {
        "secure_message_id": STR,
        "message_id": {**nullable_str, "description": "the SMS that carried the link"},
        "to": {"type": "string", "description": "E.164"},
        "state": STR,
        "category": STR,
        "tags": {"type": "array", "items": STR},
        "metadata": {"type": "object"},
        "read_at": TIME_OR_NULL,
        "answered_at": TIME_OR_NULL,
        "locked_at": TIME_OR_NULL,
        "inbound_id": {**nullable_str, "description": "secure.answered: the answer's text"},
        "conversation_id": nullable_str,
    }
    reply: dict[str, Schema] = {
        "message_id": {"type": "string", "description": "the message that declared replies"},
        "value": {"type": "string", "description": "the meaning the patient's text answered"},
        "inbound_id": STR,
        "received_at": TIME,
        "to": {"type": "string", "description": "E.164"},
        "category": STR,
        "tags": {"type": "array", "items": STR},
        "metadata": {"type": "object"},
    }
    modem: dict[str, Schema] = {"modem": STR, "reason": nullable_str}
    consent: dict[str, Schema] = {
        "suppression_id": STR,
        "number": {"type": "string", "description": "E.164"},
        "category": {**nullable_str, "description": "null: every category"},
        "source": {"type": "string", "enum": ["keyword", "api"]},
        "modem": {**nullable_str, "description": "the modem a keyword came to"},
        "created_at": TIME,
    }

    def envelope(kinds: list[str], data: dict[str, Schema]) -> Schema:
        return object_schema(
            {
                "id": {"type": "string", "description": "delivery id, also Smsgw-Delivery"},
                "type": {"type": "string", "enum": kinds},
                "created_at": TIME,
                "data": object_schema(data),
            }
        )

    return {
        "MessageEvent": envelope(list(MESSAGE_KINDS), message),
        "InboundEvent": envelope(["inbound.received"], inbound),
        "ModemEvent": envelope(["modem.down", "modem.up"], modem),
        "ConsentEvent": envelope(list(CONSENT_KINDS), consent),
        "ReplyEvent": envelope(["reply.matched"], reply),
        "SecureEvent": envelope(list(SECURE_KINDS), secure),
    }


def _webhooks() -> dict[str, Any]:
    """OpenAPI 3.1 ``webhooks``: the requests the gateway makes to subscribers."""
    headers = [
        {
            "name": "Smsgw-Signature",
            "in": "header",
            "required": True,
            "schema": STR,
            "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + '.' + raw body)>;"
            " refuse a t more than 300 s from your clock",
        },
        {"name": "Smsgw-Event", "in": "header", "required": True, "schema": STR},
        {"name": "Smsgw-Delivery", "in": "header", "required": True, "schema": STR},
    ]
    schema_of = {
        **{kind: "MessageEvent" for kind in MESSAGE_KINDS},
        "inbound.received": "InboundEvent",
        "modem.down": "ModemEvent",
        "modem.up": "ModemEvent",
        **{kind: "ConsentEvent" for kind in CONSENT_KINDS},
        "reply.matched": "ReplyEvent",
        **{kind: "SecureEvent" for kind in SECURE_KINDS},
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


# The feature's OpenAPI part; ``WebhookApi.feature`` adds the routes it describes.
DESCRIPTION: Final = Feature(
    "webhooks",
    routes=(),
    paths=_paths(),
    schemas={**_schemas(), **event_schemas()},
    webhooks=_webhooks(),
)


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""
