"""The builders every part of the OpenAPI document is written with.

``gateway.http.openapi`` builds the core /v1 document; each module that adds routes
(status page, technician, webhooks) adds its paths with :func:`extend`. One set of
builders keeps the shapes (objects, error answers, scopes, pages) the same everywhere.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from gateway.http.validation import DEFAULT_PAGE_LIMIT, MAX_CURSOR_CHARS, MAX_PAGE_LIMIT
from gateway.store.base import Scope

Schema = dict[str, Any]

# The shared answers in ``components.responses``, by the status they are documented under.
ERROR_RESPONSES: Final[Mapping[str, str]] = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "403": "Forbidden",
    "404": "NotFound",
    "409": "Conflict",
    "413": "PayloadTooLarge",
    "415": "UnsupportedMediaType",
    "500": "InternalError",
    "503": "Unavailable",
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {**schema, "type": [schema["type"], "null"]}


def object_schema(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    """A closed object: every property required unless named in ``optional``."""
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
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
    # Every key check reads the store, which answers unavailable while the daemon stops.
    responses = {"503": {"$ref": "#/components/responses/Unavailable"}, **operation["responses"]}
    return {
        **operation,
        "responses": responses,
        "security": [{"bearer": []}],
        "x-scope": scope.value,
        "description": (operation.get("description", "") + " " + description).strip(),
    }


def public(operation: dict[str, Any]) -> dict[str, Any]:
    return {**operation, "security": [], "x-scope": None}


def extend(
    document: Mapping[str, Any],
    *,
    paths: Mapping[str, Any],
    schemas: Mapping[str, Schema],
    responses: Mapping[str, Any] | None = None,
    webhooks: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A copy of ``document`` with more paths, schemas, responses and webhooks.

    A name already in the document is refused: two parts defining one path or schema
    would silently describe one of them wrongly.
    """
    doc = copy.deepcopy(dict(document))
    components = doc["components"]
    _add(doc["paths"], paths, "path")
    _add(components["schemas"], schemas, "schema")
    if responses is not None:
        _add(components.setdefault("responses", {}), responses, "response")
    if webhooks is not None:
        _add(doc.setdefault("webhooks", {}), webhooks, "webhook")
    return doc


def _add(into: dict[str, Any], more: Mapping[str, Any], what: str) -> None:
    taken = sorted(set(into) & set(more))
    if taken:
        raise ValueError(f"OpenAPI {what} defined twice: {', '.join(taken)}")
    into.update(copy.deepcopy(dict(more)))
