"""What one HTTP feature hands the app: its routes, the scope each needs, its OpenAPI part.

The app is built once from a list of features (``make_app``); nothing adds a route,
a scope or a path to it afterwards, so the routes, the scope table and the
document cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp.typedefs import Handler, Middleware

from gateway.store.base import Scope

Schema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    scope: Scope | None  # None: served without a bearer key (open, or checked inside)
    # HEAD answered like GET, with the same scope (the routes that always allowed it).
    head: bool = False
    # False for what is not part of the JSON API (pages, /metrics, foreign shapes).
    documented: bool = True


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    routes: tuple[Route, ...]
    paths: Mapping[str, Any] = field(default_factory=dict)
    schemas: Mapping[str, Schema] = field(default_factory=dict)
    responses: Mapping[str, Any] = field(default_factory=dict)  # components.responses
    webhooks: Mapping[str, Any] = field(default_factory=dict)  # requests the gateway makes
    # Placed before the API's own (error envelope, authentication), in feature order.
    middlewares: tuple[Middleware, ...] = ()


class RouteTableError(ValueError):
    """Features that cannot be served together: a route, path or schema given twice,
    or a route and its description apart. Raised while the app is built, never later."""
