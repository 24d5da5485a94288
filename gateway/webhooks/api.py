"""``/v1/webhooks``: list, create and delete subscriptions; see each one's deliveries.

Admin scope throughout. A subscription's secret is shown once, in the answer to
its creation; listings never show it. Deliveries show state, attempts and the
HTTP status of each attempt, never the payload (it holds PHI).
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from gateway.config import WEBHOOK_FORMATS as FORMATS
from gateway.config import WEBHOOK_SECRET_MIN_CHARS as MIN_SECRET_CHARS
from gateway.config import check_events, check_url
from gateway.errors import (
    CallbackNotAllowed,
    NotFound,
    UnknownField,
    UnsupportedMediaType,
    ValidationError,
)
from gateway.http.resources import JsonObject, json_response, rfc3339
from gateway.http.validation import page_cursor, page_limit, parse_json_object, query_params
from gateway.store.base import Scope
from gateway.store.sealing import decode_cursor, encode_cursor
from gateway.webhooks import outbox
from gateway.webhooks.hosts import CallbackHosts
from gateway.webhooks.outbox import Delivery, StoreAccess
from gateway.webhooks.subscriptions import Registry, Subscription

MAX_SECRET_CHARS: Final = 256
MAX_ACCOUNT_SID_CHARS: Final = 64
_CREATE_FIELDS: Final = frozenset({"url", "events", "secret", "format", "account_sid"})


class WebhookApi:
    def __init__(self, registry: Registry, access: StoreAccess, hosts: CallbackHosts) -> None:
        self.registry = registry
        self.access = access
        self.hosts = hosts

    def routes(self) -> list[tuple[str, str, Any, Scope]]:
        return [
            ("GET", "/v1/webhooks", self.list_subscriptions, Scope.ADMIN),
            ("POST", "/v1/webhooks", self.create_subscription, Scope.ADMIN),
            ("GET", "/v1/webhooks/{id}", self.get_subscription, Scope.ADMIN),
            ("DELETE", "/v1/webhooks/{id}", self.delete_subscription, Scope.ADMIN),
            ("GET", "/v1/webhooks/{id}/deliveries", self.list_deliveries, Scope.ADMIN),
        ]

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
        answer = subscription_json(sub)
        answer["secret"] = sub.secret.decode()
        return json_response(answer, status=201)

    async def delete_subscription(self, request: web.Request) -> web.Response:
        await self.registry.delete(self._find(request).id)
        return web.Response(status=204)

    async def list_deliveries(self, request: web.Request) -> web.Response:
        sub = self._find(request)
        params = query_params(request.query, frozenset({"limit", "cursor", "state"}))
        limit = page_limit(params)
        cursor = page_cursor(params)
        before = decode_cursor(cursor) if cursor else None
        state = params.get("state")
        if state is not None and state not in outbox.STATES:
            raise ValidationError(
                "state must be one of: " + ", ".join(outbox.STATES), field="state"
            )
        found = await self.access.run_read(
            lambda conn: outbox.select_deliveries(
                conn, sub.id, state=state, before_id=before, limit=limit + 1
            )
        )
        next_cursor = encode_cursor(found[limit - 1].id) if len(found) > limit else None
        return json_response(
            {"items": [delivery_json(d) for d in found[:limit]], "next_cursor": next_cursor}
        )

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
