"""An access log that never writes a query string.

Each line names the API key the request was made with (its id, ``key=-`` for none).
Query strings carry filters such as ``to=+15551234567`` (invariant 3), so the
line holds the path only; unless every path parameter looks like one of our
ids (``msg_…``), digit runs are masked too, since a client may have put a
number where an id belongs.
"""

from __future__ import annotations

import logging
import re
from typing import Final

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from gateway.http.context import API_KEY
from gateway.store.base import ApiKey

_DIGIT_RUN: Final = re.compile(r"[0-9]{3,}")
_OUR_ID: Final = re.compile(r"[a-z]{1,8}_[A-Za-z0-9]{1,64}")


class AccessLog(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            '%s key=%s "%s %s" %d %d %.1fms',
            request.remote,
            _key_id(request),
            request.method,
            _loggable_path(request),
            response.status,
            response.body_length,
            time * 1000,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def _key_id(request: BaseRequest) -> str:
    """The API key the auth middleware accepted; ``-`` when none was (or none needed)."""
    key = request.get(API_KEY) if isinstance(request, web.Request) else None
    return key.id if isinstance(key, ApiKey) else "-"


def _loggable_path(request: BaseRequest) -> str:
    try:
        match_info = getattr(request, "match_info", None)
    except AssertionError:  # how aiohttp answers for a request it could not parse: never routed
        match_info = None
    if (
        match_info is not None
        and match_info.route.resource is not None
        and all(_OUR_ID.fullmatch(value) for value in match_info.values())
    ):
        return request.path
    return _DIGIT_RUN.sub("…", request.path)
