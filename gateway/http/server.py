"""Running the API inside the daemon's own event loop (no ``run_app``).

Handlers are not cancelled when a client disconnects (aiohttp's default, kept on
purpose): a submit that has started runs to its commit, so a client that gave up
and retries with its idempotency key gets the message it already created.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import Final, NamedTuple

from aiohttp import web

from gateway.core.service import GatewayService
from gateway.http.access_log import AccessLog
from gateway.http.app import make_app
from gateway.http.feature import Feature
from gateway.http.features import API_FEATURES

# All timeouts in seconds.
SHUTDOWN_TIMEOUT: Final = 10.0  # in-flight requests get this long to finish on stop


class ApiServer(NamedTuple):
    runner: web.AppRunner
    site: web.TCPSite

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0); only while running."""
        address = self.runner.addresses[0]
        return int(address[1])

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish within the runner's shutdown timeout."""
        await self.runner.cleanup()


async def start_api(
    service: GatewayService,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    *,
    default_country: str = "",
    shutdown_timeout: float = SHUTDOWN_TIMEOUT,
    features: Sequence[Feature] = API_FEATURES,
) -> ApiServer:
    app = make_app(service, features, default_country=default_country)
    runner = web.AppRunner(
        app,
        access_log_class=AccessLog,
        handle_signals=False,
        shutdown_timeout=shutdown_timeout,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return ApiServer(runner, site)
