"""Typed state shared by the API's middlewares and handlers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.core.service import GatewayService
from gateway.store.base import ApiKey, Scope


@dataclass(frozen=True, slots=True)
class ApiContext:
    service: GatewayService
    default_country: str  # calling code for national numbers in query filters; "" = none
    # (method, path template) -> scope a key needs; None: no authentication at all
    scopes: Mapping[tuple[str, str], Scope | None]
    # The OpenAPI document served at /v1/openapi.json, merged from the app's features.
    openapi: Mapping[str, Any]


CONTEXT = web.AppKey[ApiContext]("context")
API_KEY = web.RequestKey[ApiKey]("api_key")


def has_scope(key: ApiKey, scope: Scope) -> bool:
    """``admin`` holds every scope."""
    return scope in key.scopes or Scope.ADMIN in key.scopes
