"""The local HTTP API (``/v1``, health, OpenAPI, the status page) over a ``GatewayService``.

Each feature module exports its routes, scopes and OpenAPI part as a ``Feature``;
``make_app`` builds the application once from a list of them (tests serve it with
aiohttp's TestServer); ``start_api`` runs it in the daemon's loop and returns what
``stop()`` needs.
"""

from gateway.http.app import make_app
from gateway.http.feature import Feature, Route
from gateway.http.server import ApiServer, start_api

__all__ = ["ApiServer", "Feature", "Route", "make_app", "start_api"]
