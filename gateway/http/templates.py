"""``/v1/templates``: named message texts with ``{variables}``, for sends and estimates.

Creating, replacing and deleting need ``admin`` and are audited by the template's
name (never its text); reading needs ``send``, as using one does. A body is
checked when it is stored, so a broken template fails its author, not a send.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Final

from aiohttp import web

from gateway.config import CARE, DEFAULT_CATEGORIES
from gateway.core.submission import check_text
from gateway.core.templates import (
    FILTERS,
    MAX_TEMPLATE_NAME_CHARS,
    TEMPLATE_NAME,
    parse_template,
)
from gateway.errors import NotFound, ValidationError
from gateway.http.context import API_KEY, CONTEXT
from gateway.http.feature import Feature, Route
from gateway.http.messages import read_json_object
from gateway.http.openapi_builders import (
    STR,
    TIME,
    Schema,
    error_responses,
    json_body,
    json_content,
    object_schema,
    param,
    ref,
    secured,
)
from gateway.http.resources import json_response
from gateway.http.validation import category_name
from gateway.store.base import Scope, Template
from gateway.timefmt import rfc3339

TEMPLATES_PATH: Final = "/v1/templates"
TEMPLATE_PATH: Final = "/v1/templates/{name}"
CREATE_FIELDS: Final = frozenset({"name", "body", "category", "replies"})
REPLACE_FIELDS: Final = CREATE_FIELDS - {"name"}
MAX_TEMPLATE_CHARS: Final = 1600  # the rendered text is limited by max_segments at send
MAX_REPLIES: Final = 20
MAX_REPLY_CHARS: Final = 64
CREATE_ACTION: Final = "template.create"
REPLACE_ACTION: Final = "template.replace"
DELETE_ACTION: Final = "template.delete"


def template_json(template: Template) -> dict[str, Any]:
    return {
        "name": template.name,
        "category": template.category,
        "body": template.body,
        "variables": list(parse_template(template.body).variables),
        "replies": template.replies,
        "created_at": rfc3339(template.created_at),
        "updated_at": rfc3339(template.updated_at),
    }


def _name(value: object) -> str:
    if not isinstance(value, str) or not TEMPLATE_NAME.fullmatch(value):
        raise ValidationError(
            f"name must be 1 to {MAX_TEMPLATE_NAME_CHARS} letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
            field="name",
        )
    return value


def _body(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("body is required and must be a string", field="body")
    if len(value) > MAX_TEMPLATE_CHARS:
        raise ValidationError(f"body holds at most {MAX_TEMPLATE_CHARS} characters", field="body")
    check_text(value, "body")
    parse_template(value)
    return value


def _replies(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not 1 <= len(value) <= MAX_REPLIES:
        raise ValidationError(
            f"replies must be an object of 1 to {MAX_REPLIES} answers", field="replies"
        )
    for answer, meaning in value.items():
        if not answer.strip() or len(answer) > MAX_REPLY_CHARS:
            raise ValidationError(
                f"each answer holds 1 to {MAX_REPLY_CHARS} characters", field="replies"
            )
        if not isinstance(meaning, str) or not 1 <= len(meaning) <= MAX_REPLY_CHARS:
            raise ValidationError(
                f"each meaning is a string of 1 to {MAX_REPLY_CHARS} characters",
                field=f"replies.{answer}",
            )
    return dict(value)


class TemplatesApi:
    """The handlers, with the configured categories a template may name."""

    def __init__(self, categories: Iterable[str]) -> None:
        self._categories = frozenset(categories)

    def _category(self, value: object) -> str:
        if value is None:
            return CARE
        category = category_name(value, "category")
        if category not in self._categories:
            known = ", ".join(sorted(self._categories))
            raise ValidationError(
                f"category {category!r} is not configured (known: {known})", field="category"
            )
        return category

    def _template(self, obj: dict[str, Any], name: str, allowed: frozenset[str]) -> Template:
        for field in obj:
            if field not in allowed:
                raise ValidationError("unknown field", field=field[:64])
        now = time.time()
        return Template(
            name=name,
            category=self._category(obj.get("category")),
            body=_body(obj.get("body")),
            replies=_replies(obj.get("replies")),
            created_at=now,
            updated_at=now,
        )

    async def create(self, request: web.Request) -> web.Response:
        obj = await read_json_object(request)
        template = self._template(obj, _name(obj.get("name")), CREATE_FIELDS)
        store = request.app[CONTEXT].service.store
        await store.add_template(template)
        await store.audit(request[API_KEY].id, CREATE_ACTION, {}, subject=template.name)
        return json_response(
            template_json(template),
            status=201,
            headers={"Location": f"{TEMPLATES_PATH}/{template.name}"},
        )

    async def replace(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        template = self._template(await read_json_object(request), name, REPLACE_FIELDS)
        store = request.app[CONTEXT].service.store
        stored = await store.replace_template(template)
        await store.audit(request[API_KEY].id, REPLACE_ACTION, {}, subject=name)
        return json_response(template_json(stored))

    async def get(self, request: web.Request) -> web.Response:
        template = await request.app[CONTEXT].service.store.get_template(request.match_info["name"])
        if template is None:
            raise NotFound("no such template")
        return json_response(template_json(template))

    async def list(self, request: web.Request) -> web.Response:
        templates = await request.app[CONTEXT].service.store.list_templates()
        return json_response({"items": [template_json(t) for t in templates]})

    async def delete(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        store = request.app[CONTEXT].service.store
        if not await store.delete_template(name):
            raise NotFound("no such template")
        await store.audit(request[API_KEY].id, DELETE_ACTION, {}, subject=name)
        return web.Response(status=204)


# OpenAPI -------------------------------------------------------------------------------

_BODY: Final = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_TEMPLATE_CHARS,
    "description": "text with {variable} or {variable|filter} slots; {{ and }} are literal "
    f"braces. Filters: {', '.join(FILTERS)} (date: ISO 8601 date as DD/MM/YYYY; time: as "
    "HH:MM; first: the first word). An unbalanced brace, a bad variable name or an "
    "unknown filter answers 400 template_invalid naming the problem and its position",
}
_REPLIES: Final = {
    "type": ["object", "null"],
    "additionalProperties": {"type": "string", "minLength": 1, "maxLength": MAX_REPLY_CHARS},
    "maxProperties": MAX_REPLIES,
    "description": "what the patient may answer -> its meaning, kept as given",
}


def _schemas(categories: Iterable[str]) -> dict[str, Schema]:
    category = {
        "type": "string",
        "enum": sorted(categories),
        "description": "a configured category; absent: care. A send with this template "
        "takes it unless the send names its own",
    }
    name = {"type": "string", "pattern": TEMPLATE_NAME.pattern}
    return {
        "TemplateRequest": object_schema(
            {"name": name, "body": _BODY, "category": category, "replies": _REPLIES},
            optional=("category", "replies"),
        ),
        "TemplateReplace": object_schema(
            {"body": _BODY, "category": category, "replies": _REPLIES},
            optional=("category", "replies"),
        ),
        "Template": object_schema(
            {
                "name": name,
                "category": STR,
                "body": STR,
                "variables": {
                    "type": "array",
                    "items": STR,
                    "description": "the variables a send must give, in order of first use",
                },
                "replies": _REPLIES,
                "created_at": TIME,
                "updated_at": TIME,
            }
        ),
        "TemplateList": object_schema({"items": {"type": "array", "items": ref("Template")}}),
    }


def _paths() -> dict[str, Any]:
    name = param("name", "path", STR, "the template's name", required=True)
    return {
        TEMPLATES_PATH: {
            "post": secured(
                {
                    "operationId": "create_template",
                    "summary": "Store a template (audited)",
                    "requestBody": json_body("TemplateRequest"),
                    "responses": {
                        "201": json_content(
                            "Template", "stored", headers={"Location": {"schema": STR}}
                        ),
                        **error_responses("400", "401", "403", "409", "413", "415"),
                    },
                },
                Scope.ADMIN,
            ),
            "get": secured(
                {
                    "operationId": "list_templates",
                    "summary": "Every template, by name",
                    "responses": {
                        "200": json_content("TemplateList", "the templates"),
                        **error_responses("401", "403"),
                    },
                },
                Scope.SEND,
            ),
        },
        TEMPLATE_PATH: {
            "get": secured(
                {
                    "operationId": "get_template",
                    "summary": "One template",
                    "parameters": [name],
                    "responses": {
                        "200": json_content("Template", "the template"),
                        **error_responses("401", "403", "404"),
                    },
                },
                Scope.SEND,
            ),
            "put": secured(
                {
                    "operationId": "replace_template",
                    "summary": "Replace a template's body, category and replies (audited)",
                    "description": "Messages already accepted keep the text they were "
                    "rendered with.",
                    "parameters": [name],
                    "requestBody": json_body("TemplateReplace"),
                    "responses": {
                        "200": json_content("Template", "replaced"),
                        **error_responses("400", "401", "403", "404", "413", "415"),
                    },
                },
                Scope.ADMIN,
            ),
            "delete": secured(
                {
                    "operationId": "delete_template",
                    "summary": "Delete a template (audited)",
                    "parameters": [name],
                    "responses": {
                        "204": {"description": "deleted"},
                        **error_responses("401", "403", "404"),
                    },
                },
                Scope.ADMIN,
            ),
        },
    }


def feature(categories: Iterable[str] = DEFAULT_CATEGORIES) -> Feature:
    """The templates feature; a template may name only a configured category."""
    api = TemplatesApi(categories)
    return Feature(
        "templates",
        routes=(
            Route("POST", TEMPLATES_PATH, api.create, Scope.ADMIN),
            Route("GET", TEMPLATES_PATH, api.list, Scope.SEND),
            Route("GET", TEMPLATE_PATH, api.get, Scope.SEND),
            Route("PUT", TEMPLATE_PATH, api.replace, Scope.ADMIN),
            Route("DELETE", TEMPLATE_PATH, api.delete, Scope.ADMIN),
        ),
        paths=_paths(),
        schemas=_schemas(categories),
    )
