"""Typed state shared by the API's middlewares and handlers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.core.service import GatewayService
from gateway.http.key_auth import KeyGuard
from gateway.store.base import ApiKey, Scope


@dataclass(frozen=True, slots=True)
class ApiContext:
    service: GatewayService
    default_country: str  # calling code for national numbers in query filters; "" = none
    # (method, path template) -> scope a key needs; None: no authentication at all
    scopes: Mapping[tuple[str, str], Scope | None]
    # The OpenAPI document served at /v1/openapi.json, merged from the app's features.
    openapi: Mapping[str, Any]
    # Failed-authentication counts per address and request rates per key (every shape).
    guard: KeyGuard


CONTEXT = web.AppKey[ApiContext]("context")
API_KEY = web.RequestKey[ApiKey]("api_key")


def has_scope(key: ApiKey, scope: Scope) -> bool:
    """``admin`` holds every scope; ``read_all`` includes ``read``."""
    held = key.scopes
    if scope is Scope.READ and Scope.READ_ALL in held:
        return True
    return scope in held or Scope.ADMIN in held


def reader(key: ApiKey) -> str | None:
    """Whose messages and replies a key reads: its own (its id), or every client's (None)
    with ``read_all`` or ``admin``."""
    return None if has_scope(key, Scope.READ_ALL) else key.id


def canceller(key: ApiKey) -> str | None:
    """Whose messages a key may cancel: its own, or every client's with ``admin`` (reading
    all, for staff tools, is not acting on all)."""
    return None if Scope.ADMIN in key.scopes else key.id
