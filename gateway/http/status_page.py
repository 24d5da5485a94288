"""The technician's status page and the one JSON summary only it needs.

The page is a few static files (``gateway/static``) served by the daemon itself
under a strict Content-Security-Policy: no inline script or style, nothing from
elsewhere, so data shown on it can never run as code. It reads the ordinary API
with an admin key the technician types once (kept in the tab's sessionStorage).

``GET /v1/status`` sums up the queue and the modems for the page (no PHI); it goes
through the API's authentication like every other ``/v1`` route. The page's reset
button calls ``POST /v1/modems/{name}/reset`` (``modem_actions``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from gateway.http.feature import Feature, Route
from gateway.http.openapi_builders import (
    Schema,
    error_responses,
    json_content,
    object_schema,
    secured,
)
from gateway.metrics import UP_STATES, Metrics, QueueView, StatusSource
from gateway.store.base import Scope
from gateway.timefmt import rfc3339

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

STATUS_PATH: Final = "/v1/status"


@dataclass(frozen=True, slots=True)
class _Page:
    service: StatusSource
    metrics: Metrics
    queue: QueueView
    assets: dict[str, bytes]

    async def index(self, request: web.Request) -> web.Response:
        return _page_response(self.assets[INDEX_FILE], "text/html")

    async def static_asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        content_type = STATIC_FILES.get(name)
        if content_type is None:  # a fixed list: no path is ever joined from the request
            raise web.HTTPNotFound()
        return _page_response(self.assets[name], content_type)

    async def status(self, request: web.Request) -> web.Response:
        """The page's queue summary and per-modem segment counts of today (no PHI)."""
        snap = await self.queue.refresh()
        modems = self.service.modems()
        now = time.time()
        per_modem = []
        for m in modems:
            sent_today, failed_today = self.metrics.today(m.name)
            per_modem.append(
                {
                    "name": m.name,
                    "segments_sent_today": sent_today,
                    "segments_failed_today": failed_today,
                    "last_send_success_at": rfc3339(self.metrics.last_success(m.name)),
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
                "waiting": self.metrics.waiting(),
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


def load_assets(directory: Path = STATIC_DIR) -> dict[str, bytes]:
    """Read the page once at start: small, and never read from disk in the event loop."""
    return {name: (directory / name).read_bytes() for name in (INDEX_FILE, *STATIC_FILES)}


def feature(service: StatusSource, metrics: Metrics, queue: QueueView) -> Feature:
    """``/`` and ``/static/{name}`` are open (the page holds no data; it asks the API with
    the key the technician types); ``/v1/status`` needs the read scope."""
    page = _Page(service, metrics, queue, load_assets())
    return Feature(
        "status_page",
        routes=(
            Route("GET", "/", page.index, None, head=True, documented=False),
            Route("GET", "/static/{name}", page.static_asset, None, head=True, documented=False),
            Route("GET", STATUS_PATH, page.status, Scope.READ, head=True),
        ),
        paths=_paths(),
        schemas=_schemas(),
    )


def _page_response(body: bytes, content_type: str) -> web.Response:
    response = web.Response(body=body, content_type=content_type, charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    return response


# OpenAPI -------------------------------------------------------------------------------

_COUNT: Final[Schema] = {"type": "integer", "minimum": 0}
_TIME: Final[Schema] = {"type": ["string", "null"], "format": "date-time"}


def _counts() -> Schema:
    return {"type": "object", "additionalProperties": _COUNT}


def _schemas() -> dict[str, Schema]:
    return {
        # Not "Status": that is what /healthz and /readyz answer.
        "StatusSummary": object_schema(
            {
                "time": {"type": "string", "format": "date-time"},
                "store_ok": {"type": "boolean"},
                "queue": object_schema(
                    {
                        "depth": object_schema(
                            {"queued": _COUNT, "sending": _COUNT, "unknown": _COUNT}
                        ),
                        "queued_by_priority": _counts(),
                        "oldest_queued_age_seconds": {"type": "number", "minimum": 0},
                        "waiting": {
                            **_counts(),
                            "description": "queued messages by why they wait (the reasons "
                            "of GET /v1/messages/{id}'s `waiting`), only reasons that hold any",
                        },
                    }
                ),
                "messages_by_state": _counts(),
                "store_size_bytes": _COUNT,
                "modems": object_schema(
                    {
                        "total": _COUNT,
                        "up": _COUNT,
                        "items": {
                            "type": "array",
                            "items": object_schema(
                                {
                                    "name": {"type": "string"},
                                    "segments_sent_today": _COUNT,
                                    "segments_failed_today": _COUNT,
                                    "last_send_success_at": _TIME,
                                }
                            ),
                        },
                    }
                ),
            }
        ),
    }


def _paths() -> dict[str, Any]:
    return {
        "/v1/status": {
            "get": secured(
                {
                    "operationId": "getStatus",
                    "summary": "Queue depth, oldest waiting message and today's counts per modem",
                    "responses": {
                        "200": json_content("StatusSummary", "the summary"),
                        **error_responses("401", "403"),
                    },
                },
                Scope.READ,
            )
        },
    }
