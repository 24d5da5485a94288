"""The aiohttp application: routes, middlewares, typed state, body limit."""

from __future__ import annotations

from aiohttp import web

from gateway.core.service import GatewayService
from gateway.http.context import CONTEXT, ApiContext
from gateway.http.middlewares import auth_middleware, error_middleware
from gateway.http.openapi import document
from gateway.http.routes import ROUTES


def make_app(service: GatewayService, *, default_country: str = "") -> web.Application:
    """``default_country`` lets query filters (``to=``, ``from=``) take national numbers."""
    app = web.Application(
        middlewares=[error_middleware, auth_middleware],
        client_max_size=service.api.max_body_bytes,
    )
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    app[CONTEXT] = ApiContext(
        service=service,
        default_country=default_country,
        scopes={(r.method, r.path): r.scope for r in ROUTES},
        openapi=document(),
    )
    return app
