"""The builders every feature's OpenAPI part is written with.

One set of builders keeps the shapes (objects, error answers, scopes, pages) the same
in every feature; ``gateway.http.openapi`` merges the parts into one document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Final

from gateway.http.feature import Schema as Schema  # re-exported for the features
from gateway.http.validation import DEFAULT_PAGE_LIMIT, MAX_CURSOR_CHARS, MAX_PAGE_LIMIT
from gateway.store.base import Scope

STR: Final[Schema] = {"type": "string"}
STR_OR_NULL: Final[Schema] = {"type": ["string", "null"]}
INT: Final[Schema] = {"type": "integer"}
INT_OR_NULL: Final[Schema] = {"type": ["integer", "null"]}
TIME: Final[Schema] = {"type": "string", "format": "date-time"}
TIME_OR_NULL: Final[Schema] = {"type": ["string", "null"], "format": "date-time"}

# The shared answers in ``components.responses``, by the status they are documented under.
ERROR_RESPONSES: Final[Mapping[str, str]] = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "403": "Forbidden",
    "404": "NotFound",
    "409": "Conflict",
    "413": "PayloadTooLarge",
    "415": "UnsupportedMediaType",
    "422": "OptedOut",
    "429": "TooManyRequests",
    "500": "InternalError",
    "503": "Unavailable",
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def object_schema(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    """A closed object: every property required unless named in ``optional``."""
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


def waiting_schema(reasons: Sequence[StrEnum], description: str) -> Schema:
    """Why something waits (``gateway.core.waiting``), or null."""
    return {
        **object_schema(
            {
                "reason": {"type": "string", "enum": [r.value for r in reasons]},
                "modem": STR_OR_NULL,
                "until": {**TIME_OR_NULL, "description": "when the reason ends, when known"},
            }
        ),
        "type": ["object", "null"],
        "description": description,
    }


def page_schema(item: str) -> Schema:
    return object_schema(
        {
            "items": {"type": "array", "items": ref(item)},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "pass as cursor for the next page; null on the last page",
            },
        }
    )


def json_content(
    schema_name: str, description: str, *, headers: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A response whose JSON body is ``schema_name``."""
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ref(schema_name)}},
    }
    if headers is not None:
        response["headers"] = dict(headers)
    return response


def json_body(schema_name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(schema_name)}}}


def error_responses(*statuses: str, named: Mapping[str, str] | None = None) -> dict[str, Any]:
    """References to the shared error answers; 500 is always among them (any route can fail).

    ``named`` documents a status with another answer in ``components.responses``.
    """
    names = {status: ERROR_RESPONSES[status] for status in (*statuses, "500")}
    names.update(named or {})
    return {status: {"$ref": f"#/components/responses/{name}"} for status, name in names.items()}


def param(
    name: str, where: str, schema: Schema, description: str, *, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "schema": schema,
        "description": description,
    }


PAGE_PARAMS: Final = (
    param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_LIMIT, "default": DEFAULT_PAGE_LIMIT},
        "page size",
    ),
    param(
        "cursor",
        "query",
        {"type": "string", "maxLength": MAX_CURSOR_CHARS},
        "next_cursor of the previous page",
    ),
)


def secured(operation: dict[str, Any], scope: Scope) -> dict[str, Any]:
    """An operation that needs an API key with ``scope``; says so in its description."""
    description = f"Needs an API key with the `{scope.value}` scope (or `admin`)."
    if scope is Scope.ADMIN:
        description = "Needs an API key with the `admin` scope."
    elif scope is Scope.READ:
        description = "Needs an API key with the `read` scope (or `read_all`, or `admin`)."
    # Every key check reads the store, which answers unavailable while the daemon stops;
    # and every key may have a request rate (and an address its failed attempts).
    responses = {
        "429": {"$ref": "#/components/responses/TooManyRequests"},
        "503": {"$ref": "#/components/responses/Unavailable"},
        **operation["responses"],
    }
    return {
        **operation,
        "responses": responses,
        "security": [{"bearer": []}],
        "x-scope": scope.value,
        "description": (operation.get("description", "") + " " + description).strip(),
    }


def public(operation: dict[str, Any]) -> dict[str, Any]:
    return {**operation, "security": [], "x-scope": None}
