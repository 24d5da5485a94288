"""The OpenAPI 3.1 document: what every feature shares, and the merge of their parts.

Schemas use a small set of JSON Schema keywords (type, properties, required,
additionalProperties, items, enum, $ref, minimum/maximum, minLength/maxLength,
minItems/maxItems, format) so tests can check real answers against them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from aiohttp import web

from gateway.http.context import CONTEXT
from gateway.http.feature import Feature, Route, RouteTableError
from gateway.http.openapi_builders import (
    STR,
    Schema,
    error_responses,
    json_content,
    object_schema,
    public,
)
from gateway.http.resources import json_response

PATH: Final = "/v1/openapi.json"

ERROR_CODES: Final = (
    "invalid_json",
    "invalid_request",
    "unknown_field",
    "invalid_number",
    "empty_text",
    "invalid_text",
    "text_too_long",
    "invalid_priority",
    "invalid_time",
    "batch_too_large",
    "template_invalid",
    "template_variable_missing",
    "attachment_type_refused",
    "payload_too_large",
    "attachment_too_large",
    "request_timeout",
    "too_many_connections",
    "malformed_request",
    "header_too_large",
    "unsupported_media_type",
    "not_found",
    "method_not_allowed",
    "not_cancellable",
    "idempotency_conflict",
    "conflict",
    "unauthorized",
    "key_expired",
    "forbidden",
    "network_not_allowed",
    "rate_limited",
    "quota_exceeded",
    "too_many_auth_failures",
    "unavailable",
    "internal_error",
    "store_error",
    "modem_not_ready",
    "command_refused",
    "modem_error",
    "modem_timeout",
    "ussd_failed",
    "audit_broken",
    "callback_not_allowed",
    "opted_out",
    "no_simulated_network",  # texting in as a patient (simulated modems only)
    "not_simulated",
)


def _error_schema() -> Schema:
    return object_schema(
        {
            "error": object_schema(
                {
                    "code": {"type": "string", "enum": list(ERROR_CODES)},
                    "message": STR,
                    "field": {
                        "type": ["string", "null"],
                        "description": "the offending field: to, messages[3].body, limit",
                    },
                }
            )
        }
    )


def _error_responses() -> dict[str, Any]:
    def error(description: str) -> dict[str, Any]:
        return json_content("Error", description)

    return {
        "BadRequest": error(
            "invalid_json, invalid_request, unknown_field, invalid_number, empty_text, "
            "text_too_long, invalid_priority, invalid_time or batch_too_large"
        ),
        "Unauthorized": {
            **error("unauthorized: missing, unknown or revoked API key; key_expired"),
            "headers": {"WWW-Authenticate": {"schema": STR}},
        },
        "Forbidden": error(
            "forbidden: the key lacks the scope; network_not_allowed: the request came "
            "from outside the key's networks"
        ),
        "TooManyRequests": {
            **error(
                "rate_limited: the key's requests a minute are spent; quota_exceeded: the "
                "key's messages per day would be exceeded; too_many_auth_failures: this "
                "address failed to authenticate too often. Retry-After says when to retry."
            ),
            "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
        },
        "NotFound": error("not_found"),
        "Conflict": error("not_cancellable or idempotency_conflict"),
        "PayloadTooLarge": error("payload_too_large: body over the server's max_body_bytes"),
        "UnsupportedMediaType": error("unsupported_media_type: Content-Type is not JSON"),
        "Unavailable": error("unavailable"),
        "OptedOut": error("opted_out: the number is on the opt-out list for this message"),
        "InternalError": error("internal_error, or store_error when storage failed"),
    }


def _base() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "smsgw",
            "version": "1",
            "description": "Self-hosted SMS gateway. Every error answers with the Error schema "
            "and a stable code; unknown routes answer not_found (404), wrong methods "
            "method_not_allowed (405).",
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "security": [{"bearer": []}],
        "paths": {},
        "components": {
            "schemas": {"Error": _error_schema()},
            "responses": _error_responses(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API key created with `smsgw keys create`; scopes: "
                    "send, read (the key's own messages and the replies to them), read_all "
                    "(every client's), admin",
                }
            },
        },
    }


def document(features: Iterable[Feature]) -> dict[str, Any]:
    """The shared parts plus every feature's; a fresh copy on each call.

    A path defined by two features, or one name given two different schemas or
    answers, is refused: one of them would be described wrongly.
    """
    doc = _base()
    components = doc["components"]
    hooks: dict[str, Any] = {}
    for feature in features:
        _add(doc["paths"], feature.paths, "path", same_allowed=False)
        _add(components["schemas"], feature.schemas, "schema", same_allowed=True)
        _add(components["responses"], feature.responses, "response", same_allowed=True)
        _add(hooks, feature.webhooks, "webhook", same_allowed=False)
    if hooks:
        doc["webhooks"] = hooks
    return doc


def _add(into: dict[str, Any], more: Mapping[str, Any], what: str, *, same_allowed: bool) -> None:
    taken = sorted(
        name for name in set(into) & set(more) if not same_allowed or into[name] != more[name]
    )
    if taken:
        raise RouteTableError(f"OpenAPI {what} defined twice: {', '.join(taken)}")
    into.update(copy.deepcopy(dict(more)))


def check_routes(doc: Mapping[str, Any], routes: Sequence[Route]) -> None:
    """Every documented route has its operation, with its scope, and every operation a route."""
    served = {(r.method.lower(), r.path): r for r in routes if r.documented}
    described = {
        (method, path): operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }
    if set(served) != set(described):
        missing = sorted(set(served) ^ set(described))
        raise RouteTableError(f"routes and OpenAPI operations differ: {missing}")
    for key, route in served.items():
        scope = None if route.scope is None else route.scope.value
        if described[key].get("x-scope") != scope:
            raise RouteTableError(f"scope of {key} differs from its OpenAPI operation")


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(dict(request.app[CONTEXT].openapi))


FEATURE: Final = Feature(
    "openapi",
    routes=(Route("GET", PATH, openapi_json, None),),
    paths={
        PATH: {
            "get": public(
                {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **error_responses(),
                    },
                }
            )
        }
    },
)
