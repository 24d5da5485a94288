"""Every route the API serves, with the scope a key needs for it.

``openapi.py`` describes exactly these; a test holds the two together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from aiohttp.typedefs import Handler

from gateway.http import inbound, messages, status
from gateway.store.base import Scope


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    scope: Scope | None  # None: served without authentication


ROUTES: Final[tuple[Route, ...]] = (
    Route("POST", "/v1/messages", messages.post_message, Scope.SEND),
    Route("POST", "/v1/messages/batch", messages.post_batch, Scope.SEND),
    Route("GET", "/v1/messages", messages.list_messages, Scope.READ),
    Route("GET", "/v1/messages/{id}", messages.get_message, Scope.READ),
    Route("DELETE", "/v1/messages/{id}", messages.delete_message, Scope.SEND),
    Route("GET", "/v1/inbound", inbound.list_inbound, Scope.READ),
    Route("GET", "/v1/inbound/{id}", inbound.get_inbound, Scope.READ),
    Route("GET", "/v1/modems", status.list_modems, Scope.READ),
    Route("GET", "/v1/events", status.list_events, Scope.ADMIN),
    Route("GET", "/v1/openapi.json", status.openapi_json, None),
    Route("GET", "/healthz", status.healthz, None),
    Route("GET", "/readyz", status.readyz, None),
)
