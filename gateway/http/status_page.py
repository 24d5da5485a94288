"""The technician's status page and the two JSON endpoints only it needs.

The page is a few static files (``gateway/static``) served by the daemon itself
under a strict Content-Security-Policy: no inline script or style, nothing from
elsewhere, so data shown on it can never run as code. It reads the ordinary API
with an admin key the technician types once (kept in the tab's sessionStorage).

``GET /v1/status`` sums up the queue and the modems for the page (no PHI);
``POST /v1/modems/{name}/reset`` asks the daemon to reset one modem. Both go
through the API's authentication like every other ``/v1`` route.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Protocol

from aiohttp import web

from gateway.http import status_openapi
from gateway.http.context import API_KEY, CONTEXT
from gateway.http.resources import rfc3339
from gateway.metrics import (
    UP_STATES,
    Metrics,
    MetricsEndpoint,
    QueueView,
    StatusSource,
    http_metrics_middleware,
)
from gateway.store.base import Scope

STATIC_DIR: Final = Path(__file__).with_name("static")
STATIC_FILES: Final = {
    "app.js": "text/javascript",
    "style.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
INDEX_FILE: Final = "index.html"

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

# Routes and the scope each needs, in the API's (method, path template) form.
# ``/metrics`` is open like ``/healthz``: it carries no PHI, and Prometheus scrapes
# without a key. HEAD comes with every GET route in aiohttp.
ROUTE_SCOPES: Final[dict[tuple[str, str], Scope | None]] = {
    **{
        (method, path): None
        for method in ("GET", "HEAD")
        for path in ("/", "/static/{name}", "/metrics")
    },
    ("GET", "/v1/status"): Scope.READ,
    ("HEAD", "/v1/status"): Scope.READ,
    ("POST", "/v1/modems/{name}/reset"): Scope.ADMIN,
}


class OpsService(StatusSource, Protocol):
    """``StatusSource`` plus the one action the page offers."""

    async def reset_modem(self, name: str, *, actor: str = "api") -> None:
        """Start a reset of the named modem and return (NotFound for an unknown name);
        ``actor`` (the API key's id) goes to the audit trail."""
        ...


@dataclass(frozen=True, slots=True)
class Ops:
    service: OpsService
    metrics: Metrics
    queue: QueueView
    assets: dict[str, bytes]


OPS: Final = web.AppKey("smsgw_ops", Ops)


def load_assets(directory: Path = STATIC_DIR) -> dict[str, bytes]:
    """Read the page once at start: small, and never read from disk in the event loop."""
    return {name: (directory / name).read_bytes() for name in (INDEX_FILE, *STATIC_FILES)}


def add_ops_routes(app: web.Application, service: OpsService, metrics: Metrics) -> Ops:
    """Add the page, ``/metrics``, ``/v1/status`` and the reset route to the API's app.

    Also puts each route's scope in the API's table (which refuses routes it does not
    list) and the HTTP metrics middleware in front of the API's own, so that the
    statuses it counts are the ones clients see. Call before the app starts.
    """
    queue = QueueView(lambda: service.store)
    ops = Ops(service, metrics, queue, load_assets())
    app[OPS] = ops
    endpoint = MetricsEndpoint(service, metrics, queue)
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static_asset)
    app.router.add_get("/metrics", endpoint.handle)
    app.router.add_get("/v1/status", status)
    app.router.add_post("/v1/modems/{name}/reset", reset_modem)
    app.middlewares.insert(0, http_metrics_middleware(metrics))
    context = app.get(CONTEXT)
    if context is not None:
        app[CONTEXT] = replace(
            context,
            scopes={**context.scopes, **ROUTE_SCOPES},
            openapi=status_openapi.merged(context.openapi),
        )
    return ops


def _page_response(body: bytes, content_type: str) -> web.Response:
    response = web.Response(body=body, content_type=content_type, charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    return response


async def index(request: web.Request) -> web.Response:
    return _page_response(request.app[OPS].assets[INDEX_FILE], "text/html")


async def static_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    content_type = STATIC_FILES.get(name)
    if content_type is None:  # a fixed list: no path is ever joined from the request
        raise web.HTTPNotFound()
    return _page_response(request.app[OPS].assets[name], content_type)


async def status(request: web.Request) -> web.Response:
    """The page's queue summary and per-modem segment counts of today (no PHI)."""
    ops = request.app[OPS]
    snap = await ops.queue.refresh()
    modems = ops.service.modems()
    now = time.time()
    per_modem = []
    for m in modems:
        sent_today, failed_today = ops.metrics.today(m.name)
        per_modem.append(
            {
                "name": m.name,
                "segments_sent_today": sent_today,
                "segments_failed_today": failed_today,
                "last_send_success_at": rfc3339(ops.metrics.last_success(m.name)),
            }
        )
    depth = {state: snap.by_state.get(state, 0) for state in ("queued", "sending", "unknown")}
    body = {
        "time": rfc3339(now),
        "store_ok": snap.ok,
        "queue": {
            "depth": depth,
            "queued_by_priority": snap.queued_by_priority,
            "oldest_queued_age_seconds": round(snap.oldest_queued_age_seconds, 3),
        },
        "messages_by_state": snap.by_state,
        "store_size_bytes": snap.store_size_bytes,
        "modems": {
            "total": len(modems),
            "up": sum(1 for m in modems if m.state in UP_STATES),
            "items": per_modem,
        },
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def reset_modem(request: web.Request) -> web.Response:
    ops = request.app[OPS]
    name = request.match_info["name"]
    key = request.get(API_KEY)
    actor = key.id if key is not None else "api"
    await ops.service.reset_modem(name, actor=actor)  # NotFound reaches the client as a 404
    return web.json_response({"modem": name, "reset": "started"}, status=202)
