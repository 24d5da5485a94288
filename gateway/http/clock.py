"""``POST /v1/clock/confirm``: the technician says the wall clock is right, after the
gateway held purges and expiries on a clock step it could not explain (readiness says
so). Admin only, audited; ``smsgw clock confirm`` calls it."""

from __future__ import annotations

from typing import Final, Protocol

from aiohttp import web

from gateway.http.context import API_KEY
from gateway.http.feature import Feature, Route
from gateway.http.openapi_builders import (
    STR_OR_NULL,
    error_responses,
    json_content,
    object_schema,
    secured,
)
from gateway.http.resources import json_response
from gateway.store.base import Scope

CONFIRM_PATH: Final = "/v1/clock/confirm"


class ClockActions(Protocol):
    async def confirm_clock(self, actor: str) -> str | None:
        """Trust the clock as it reads now; the doubt cleared (None: there was none)."""
        ...


def feature(service: ClockActions) -> Feature:
    async def post_confirm(request: web.Request) -> web.Response:
        cleared = await service.confirm_clock(request[API_KEY].id)
        return json_response({"confirmed": True, "cleared": cleared})

    return Feature(
        "clock",
        routes=(Route("POST", CONFIRM_PATH, post_confirm, Scope.ADMIN),),
        paths={
            CONFIRM_PATH: {
                "post": secured(
                    {
                        "operationId": "confirmClock",
                        "summary": "Trust the wall clock as it reads now: held purges and "
                        "expiries resume",
                        "responses": {
                            "200": json_content("ClockConfirmed", "the clock is trusted"),
                            **error_responses("401", "403"),
                        },
                    },
                    Scope.ADMIN,
                )
            }
        },
        schemas={
            "ClockConfirmed": object_schema(
                {"confirmed": {"type": "boolean"}, "cleared": STR_OR_NULL}
            )
        },
    )
