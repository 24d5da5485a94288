"""The local HTTP API (``/v1``, health, OpenAPI) over a ``GatewayService``.

``make_app`` builds the application (tests serve it with aiohttp's TestServer);
``start_api`` runs it in the daemon's loop and returns what ``stop()`` needs.
"""

from gateway.http.app import make_app
from gateway.http.server import ApiServer, start_api

__all__ = ["ApiServer", "make_app", "start_api"]
