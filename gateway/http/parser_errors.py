"""The connection handler whose own error answers (a request aiohttp's parser refused,
or a failure outside every middleware) use the API's JSON error shape.

aiohttp answers those in plain text from ``RequestHandler.handle_error``, before any
route or middleware exists; a client that parses every error as JSON would choke on
them. The message is ours, never the parser's, which quotes the offending bytes (a
header may hold a patient's number).
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from gateway.errors import GatewayError, HeaderTooLarge, MalformedRequest
from gateway.http.resources import error_json, json_response

log = logging.getLogger(__name__)


def parser_error(exc: BaseException | None) -> GatewayError:
    """What a parser failure is called in the API (no bytes of the request quoted)."""
    if isinstance(exc, LineTooLong):
        return HeaderTooLarge("the request line or a header field is too long")
    if isinstance(exc, BadHttpMethod):
        return MalformedRequest("the request line is not HTTP")
    return MalformedRequest("the request is not valid HTTP (request line or headers)")


class JsonErrorRequestHandler(RequestHandler):
    """aiohttp's per-connection protocol, with its error answers in our shape."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was already sent; no error answer is possible")
        if status == 400 or isinstance(exc, HttpProcessingError):
            error = parser_error(exc)
            # A port scan or a stray TLS client: the parser's exception names bytes.
            log.debug("refused an unparsable request from %s: %s", request.remote, error.code)
            status = 400
        elif status == 504:
            error = GatewayError("the request took too long")
        else:
            log.error("error handling a request from %s", request.remote, exc_info=exc)
            error = GatewayError("internal server error")
        response = json_response(error_json(error.code, error.message, None), status=status)
        response.force_close()
        return response
