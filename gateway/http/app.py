"""The aiohttp application, built once from a list of features and then frozen."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aiohttp import web

from gateway.core.service import GatewayService
from gateway.http.context import CONTEXT, ApiContext
from gateway.http.feature import Feature, Route, RouteTableError
from gateway.http.key_auth import KeyGuard
from gateway.http.middlewares import auth_middleware, error_middleware
from gateway.http.openapi import check_routes, document
from gateway.store.base import Scope


def make_app(
    service: GatewayService, features: Sequence[Feature], *, default_country: str = ""
) -> web.Application:
    """Routes, scope table and OpenAPI document all come from ``features``; the app is
    frozen before it is returned, so nothing can add a route the table does not know.

    ``default_country`` lets query filters (``to=``, ``from=``) take national numbers.
    """
    routes = [route for feature in features for route in feature.routes]
    scopes = scope_table(routes)
    openapi = document(features)
    check_routes(openapi, routes)
    app = web.Application(
        middlewares=[
            *(m for feature in features for m in feature.middlewares),
            error_middleware,
            auth_middleware,
        ],
        client_max_size=service.api.max_body_bytes,
    )
    for route in routes:
        if route.head:
            app.router.add_route("HEAD", route.path, route.handler)
        app.router.add_route(route.method, route.path, route.handler)
    app[CONTEXT] = ApiContext(
        service=service,
        default_country=default_country,
        scopes=scopes,
        openapi=openapi,
        guard=KeyGuard(service.api.failed_auth_limit, service.api.failed_auth_window),
    )
    app.freeze()
    return app


def scope_table(routes: Iterable[Route]) -> dict[tuple[str, str], Scope | None]:
    """(method, path template) -> the scope a key needs; a route given twice is refused."""
    table: dict[tuple[str, str], Scope | None] = {}
    for route in routes:
        methods = ("HEAD", route.method) if route.head else (route.method,)
        for method in methods:
            if (method, route.path) in table:
                raise RouteTableError(f"route defined twice: {method} {route.path}")
            table[(method, route.path)] = route.scope
    return table
