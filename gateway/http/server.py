"""Running the API inside the daemon's own event loop (no ``run_app``), guarded against
clients that hold connections open.

Handlers are not cancelled when a client disconnects (aiohttp's default, kept on
purpose): a submit that has started runs to its commit, so a client that gave up
and retries with its idempotency key gets the message it already created.

What bounds a client (``ListenerLimits``): aiohttp closes a connection whose request
line and headers have not all arrived ``header_timeout`` after it connected (or after
the previous answer), which also covers a socket that never sends a byte; a body gets
``body_timeout`` to arrive (then 408); past ``max_connections`` a new connection is
answered 503 and closed before aiohttp sees it. Refusals and the event loop's accept
errors (EMFILE and the like) are logged at most once per ``LOG_INTERVAL`` with a count,
so a flood cannot fill the disk with log lines.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from gateway.core.service import GatewayService
from gateway.errors import RequestTimeout, TooManyConnections
from gateway.http.access_log import AccessLog
from gateway.http.app import make_app
from gateway.http.feature import Feature
from gateway.http.features import API_FEATURES
from gateway.http.middlewares import error_middleware
from gateway.http.parser_errors import JsonErrorRequestHandler
from gateway.http.resources import error_json, json_response

log = logging.getLogger(__name__)

# All timeouts in seconds.
SHUTDOWN_TIMEOUT: Final = 10.0  # in-flight requests get this long to finish on stop
LINGERING_TIME: Final = 1.0  # seconds an unread body is drained after an early answer
LOG_INTERVAL: Final = 60.0  # at most one line this often for each kind of refusal
_ACCEPT_ERROR: Final = "socket.accept() out of system resource"  # asyncio's message


@dataclass(frozen=True, slots=True)
class ListenerLimits:
    """How long a client may take to send a request, and how many may be connected."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 512


class ThrottledLog:
    """One log line per ``interval`` for a repeated event, saying how often it happened."""

    def __init__(
        self, what: str, interval: float = LOG_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._what = what
        self._interval = interval
        self._clock = clock
        self._count = 0
        self._logged_at: float | None = None

    def note(self, detail: str = "") -> bool:
        """Count one occurrence; log it if the last line is old enough (returns whether)."""
        self._count += 1
        now = self._clock()
        if self._logged_at is not None and now - self._logged_at < self._interval:
            return False
        suffix = f": {detail}" if detail else ""
        log.warning(
            "%s%s (%d time(s) since the last such line; at most one line per %g s)",
            self._what,
            suffix,
            self._count,
            self._interval,
        )
        self._logged_at = now
        self._count = 0
        return True


class _Refused(asyncio.Protocol):
    """A connection past the limit: one 503 in the API's error shape, then closed.

    Over plain TCP only our side is shut at once, and the client's request is read and
    dropped until it closes (or ``linger`` passes): closing a socket with unread data
    makes the kernel send a reset, which can destroy the 503 before the client reads it.
    """

    def __init__(self, answer: bytes, linger: float) -> None:
        self._answer = answer
        self._linger = linger

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self._answer)
        if transport.can_write_eof():
            transport.write_eof()
            asyncio.get_running_loop().call_later(self._linger, transport.close)
        else:  # TLS
            transport.close()

    def data_received(self, data: bytes) -> None:
        """The refused client's request: not read."""

    def eof_received(self) -> bool:
        return False  # the transport closes itself


def _refusal_bytes() -> bytes:
    exc = TooManyConnections("the gateway has too many open connections; try again shortly")
    body = json_response(error_json(exc.code, exc.message, None)).body
    assert isinstance(body, bytes)
    return (
        f"HTTP/1.1 {exc.status} Service Unavailable\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    ).encode() + body


class _Guard:
    """The protocol factory asyncio's server calls per accepted socket: aiohttp's own
    handler (its error answers in our JSON shape) while under the limit, a refusal past
    it. Counts aiohttp's registered connections, so a burst accepted in one loop pass may
    pass the limit by that burst."""

    def __init__(
        self,
        server: web.Server,
        handler_args: dict[str, Any],
        max_connections: int,
        linger: float,
    ) -> None:
        self._server = server
        self._handler_args = handler_args
        self._max = max_connections
        self._linger = linger
        self._answer = _refusal_bytes()
        self._refused = ThrottledLog(f"connection limit ({max_connections}) reached, refused")

    def __call__(self) -> asyncio.BaseProtocol:
        if len(self._server.connections) >= self._max:
            self._refused.note()
            return _Refused(self._answer, self._linger)
        # What ``web.Server.__call__`` builds, with the error answers in our shape.
        return JsonErrorRequestHandler(
            self._server, loop=asyncio.get_running_loop(), **self._handler_args
        )


# Bodies their handlers read as they arrive (a broadcast's CSV), each with its own limits.
STREAMED_TYPES: Final = ("multipart/", "text/csv")


def body_timeout_feature(timeout: float) -> Feature:
    """A feature of one middleware: the body is read within ``timeout`` before any
    handler runs (handlers then read it from memory), else 408 and the connection closed.
    Multipart and CSV bodies are left to their handler, which streams them."""

    @web.middleware
    async def read_body_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists or request.content_type.startswith(STREAMED_TYPES):
            return await handler(request)
        try:
            async with asyncio.timeout(timeout):
                await request.read()
        except TimeoutError:
            failure: Exception = RequestTimeout(
                f"the request body did not arrive within {timeout:g} s"
            )
        except web.HTTPException as exc:  # too large: the envelope shapes it
            failure = exc
        else:
            return await handler(request)

        async def refuse(_: web.Request) -> web.StreamResponse:
            raise failure

        response = await error_middleware(request, refuse)
        response.force_close()  # the rest of the body may still be on its way
        return response

    return Feature(name="body_timeout", routes=(), middlewares=(read_body_in_time,))


class ApiServer(NamedTuple):
    runner: web.AppRunner
    listener: asyncio.Server
    restore_handler: Callable[[], None]

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0); only while running."""
        return int(self.listener.sockets[0].getsockname()[1])

    @property
    def addresses(self) -> list[Any]:
        return [sock.getsockname() for sock in self.listener.sockets]

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish within the runner's shutdown timeout."""
        self.listener.close()
        try:
            await self.runner.cleanup()
        finally:
            self.restore_handler()


def _throttle_accept_errors(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Route asyncio's accept errors (out of descriptors, memory) through one throttled
    line; everything else to the handler that was there. Returns how to undo it."""
    previous = loop.get_exception_handler()
    throttled = ThrottledLog("accepting an API connection failed")

    def handler(loop_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == _ACCEPT_ERROR:
            exc = context.get("exception")
            throttled.note(f"{type(exc).__name__}: {exc}" if exc is not None else "")
        elif previous is not None:
            previous(loop_, context)
        else:
            loop_.default_exception_handler(context)

    loop.set_exception_handler(handler)

    def restore() -> None:
        if loop.get_exception_handler() is handler:
            loop.set_exception_handler(previous)

    return restore


async def serve_app(
    app: web.Application,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    *,
    limits: ListenerLimits = ListenerLimits(),
    shutdown_timeout: float = SHUTDOWN_TIMEOUT,
    access_log_class: type[AbstractAccessLogger] = AccessLog,
) -> ApiServer:
    """Listen on ``host:port`` with ``limits`` applied; the app gets the body timeout
    only if built with ``body_timeout_feature`` (``start_api`` does)."""
    handler_args: dict[str, Any] = {
        "access_log_class": access_log_class,
        "keepalive_timeout": limits.header_timeout,  # armed at connect and after each answer
        # After an answer sent before the body was read (a 408), aiohttp reads and drops
        # the rest so the client sees the answer rather than a reset; 10 s by default,
        # which would hand a slow client back the time the body timeout took away.
        "lingering_time": LINGERING_TIME,
    }
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=shutdown_timeout, **handler_args
    )
    await runner.setup()
    loop = asyncio.get_running_loop()
    restore = _throttle_accept_errors(loop)
    try:
        assert runner.server is not None
        listener = await loop.create_server(
            _Guard(runner.server, handler_args, limits.max_connections, limits.header_timeout),
            host,
            port,
            ssl=ssl_context,
            ssl_handshake_timeout=limits.header_timeout if ssl_context is not None else None,
            reuse_address=True,
        )
    except BaseException:
        restore()
        await runner.cleanup()
        raise
    return ApiServer(runner, listener, restore)


async def start_api(
    service: GatewayService,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    *,
    default_country: str = "",
    shutdown_timeout: float = SHUTDOWN_TIMEOUT,
    features: Sequence[Feature] = API_FEATURES,
    limits: ListenerLimits = ListenerLimits(),
) -> ApiServer:
    features = [body_timeout_feature(limits.body_timeout), *features]
    app = make_app(service, features, default_country=default_country)
    return await serve_app(
        app, host, port, ssl_context, limits=limits, shutdown_timeout=shutdown_timeout
    )
