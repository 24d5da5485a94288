"""Error envelope and bearer-key authentication, applied to every route.

Every answer that is not a success leaves here as
``{"error": {"code", "message", "field"}}``, including aiohttp's own 404, 405
and 413, so a client handles one error shape. Nothing a client sent is logged.
"""

from __future__ import annotations

import logging
import math
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.errors import Forbidden, GatewayError, TooManyRequests, Unauthorized, Unavailable
from gateway.http.context import API_KEY, CONTEXT, has_scope
from gateway.http.resources import error_json, json_response
from gateway.store.base import ApiKey, Scope

LOGGER = logging.getLogger(__name__)

MAX_TOKEN_CHARS: Final = 512
WWW_AUTHENTICATE: Final = 'Bearer realm="smsgw"'

# aiohttp's own exceptions, by status, as our codes.
_HTTP_CODES: Final = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    503: "unavailable",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GatewayError as exc:
        return _gateway_error(request, exc)
    except web.HTTPException as exc:
        return _http_error(request, exc)
    except Exception:
        # Exceptions raised on request paths carry codes and routes, never values.
        LOGGER.error("internal error in %s %s", request.method, _route_of(request), exc_info=True)
        return json_response(
            error_json("internal_error", "internal server error", None), status=500
        )


def _gateway_error(request: web.Request, exc: GatewayError) -> web.Response:
    if isinstance(exc, Unavailable):
        # A state the caller is told about (not ready, stopping), probed every few seconds.
        LOGGER.debug("%s in %s %s: %s", exc.code, request.method, _route_of(request), exc.message)
    elif exc.status >= 500:
        LOGGER.error("%s in %s %s", exc.code, request.method, _route_of(request), exc_info=exc)
    headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if exc.status == 401 else None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": retry_after(exc)}
    return json_response(
        error_json(exc.code, exc.message, exc.field), status=exc.status, headers=headers
    )


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    status = exc.status
    if status < 400:
        raise exc  # a redirect or similar: not an error
    code = _HTTP_CODES.get(status, "internal_error" if status >= 500 else "invalid_request")
    headers: dict[str, str] = {}
    if status == 405 and "Allow" in exc.headers:
        headers["Allow"] = exc.headers["Allow"]
    if status == 413:
        max_size = request.app[CONTEXT].service.api.max_body_bytes
        message = f"request body exceeds {max_size} bytes"
    elif status == 404:
        message = "no such resource"
    elif status == 405:
        message = f"method {request.method} not allowed here"
    else:
        message = exc.reason
    return json_response(error_json(code, message, None), status=status, headers=headers)


def retry_after(exc: TooManyRequests) -> str:
    """Whole seconds, rounded up (``Retry-After: 0`` would invite an immediate retry)."""
    return str(max(1, math.ceil(exc.retry_after)))


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "<no route>"


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    match_info = request.match_info
    resource = match_info.route.resource
    if match_info.http_exception is not None or resource is None:
        return await handler(request)  # 404 / 405: nothing to protect
    scopes = request.app[CONTEXT].scopes
    # A route missing from the table needs admin: fail closed.
    needed = scopes.get((request.method, resource.canonical), Scope.ADMIN)
    if needed is None:
        return await handler(request)
    key = await _authenticate(request)
    if not has_scope(key, needed):
        raise Forbidden(f"this API key lacks the '{needed.value}' scope")
    request[API_KEY] = key
    return await handler(request)


async def _authenticate(request: web.Request) -> ApiKey:
    header = request.headers.get("Authorization")
    if header is None:
        raise Unauthorized("missing Authorization: Bearer <API key>")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized("Authorization must be: Bearer <API key>")
    context = request.app[CONTEXT]
    return await context.guard.authenticate(context.service.store, token, request.remote)
