"""``/v1/suppressions``: the opt-out list, for staff (a patient who asked at the desk).

Every change is audited with the entry's id and category, never the number. The
listing masks numbers; a lookup answers for the one number it was given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from aiohttp import web

from gateway.config import DEFAULT_CATEGORIES
from gateway.core.numbers import normalize
from gateway.errors import NotFound, ValidationError
from gateway.http.context import API_KEY, CONTEXT
from gateway.http.feature import Feature, Route
from gateway.http.messages import read_json_object
from gateway.http.openapi_builders import (
    PAGE_PARAMS,
    STR_OR_NULL,
    Schema,
    error_responses,
    json_body,
    json_content,
    object_schema,
    page_schema,
    param,
    secured,
)
from gateway.http.resources import json_response, page_json
from gateway.http.validation import MAX_ID_CHARS, page_cursor, page_limit, query_params
from gateway.metrics import Metrics
from gateway.redact import redact_number
from gateway.store.base import Scope, Suppression
from gateway.timefmt import rfc3339

SUPPRESSIONS_PATH: Final = "/v1/suppressions"
SUPPRESSION_PATH: Final = "/v1/suppressions/{id}"
LIST_PARAMS: Final = frozenset({"number", "cursor", "limit"})
ADD_FIELDS: Final = frozenset({"number", "category", "reason"})
MAX_REASON_CHARS: Final = 500
ADD_ACTION: Final = "suppression.add"
REMOVE_ACTION: Final = "suppression.remove"
_CATEGORY_RE: Final = re.compile(r"[a-z0-9_-]{1,32}")


def suppression_json(entry: Suppression, *, masked: bool) -> dict[str, Any]:
    return {
        "id": entry.id,
        "number": redact_number(entry.number) if masked else entry.number,
        "category": entry.category,
        "source": entry.source,
        "reason": entry.reason,
        "modem": entry.modem,
        "created_at": rfc3339(entry.created_at),
    }


class SuppressionsApi:
    def __init__(self, metrics: Metrics | None, categories: Iterable[str]) -> None:
        self._metrics = metrics
        self._categories = frozenset(categories)

    async def list(self, request: web.Request) -> web.Response:
        params = query_params(request.query, LIST_PARAMS)
        context = request.app[CONTEXT]
        store = context.service.store
        raw = params.get("number")
        if raw is not None:
            number = normalize(raw, context.default_country, field="number")
            found = await store.suppressions_for(number)
            items = [suppression_json(e, masked=False) for e in found]
            return json_response({"items": items, "next_cursor": None})
        page = await store.list_suppressions(cursor=page_cursor(params), limit=page_limit(params))
        return json_response(
            page_json(page, [suppression_json(e, masked=True) for e in page.items])
        )

    async def add(self, request: web.Request) -> web.Response:
        obj = await read_json_object(request)
        unknown = sorted(set(obj) - ADD_FIELDS)
        if unknown:
            raise ValidationError("unknown field", field=unknown[0][:64])
        context = request.app[CONTEXT]
        raw = obj.get("number")
        if not isinstance(raw, str):
            raise ValidationError("number is required, as a string", field="number")
        number = normalize(raw, context.default_country, field="number")
        category = self._category(obj.get("category"))
        reason = obj.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON_CHARS:
            raise ValidationError(
                f"reason is required: a string of 1 to {MAX_REASON_CHARS} characters",
                field="reason",
            )
        store = context.service.store
        entry, created = await store.add_suppression(number, category, source="api", reason=reason)
        if created:
            await store.audit(
                request[API_KEY].id, ADD_ACTION, {"category": category}, subject=entry.id
            )
            if self._metrics is not None:
                self._metrics.consent_change("opted_out", "api")
        return json_response(
            suppression_json(entry, masked=False),
            status=201 if created else 200,
            headers={"Location": f"{SUPPRESSIONS_PATH}/{entry.id}"},
        )

    async def remove(self, request: web.Request) -> web.Response:
        suppression_id = request.match_info["id"]
        if len(suppression_id) > MAX_ID_CHARS:
            raise NotFound("no such suppression")
        store = request.app[CONTEXT].service.store
        entry = await store.remove_suppression(suppression_id)
        await store.audit(
            request[API_KEY].id, REMOVE_ACTION, {"category": entry.category}, subject=entry.id
        )
        if self._metrics is not None:
            self._metrics.consent_change("opted_in", "api")
        return json_response(suppression_json(entry, masked=True))

    def _category(self, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or value not in self._categories:
            raise ValidationError(
                "category must be one of: " + ", ".join(sorted(self._categories)),
                field="category",
            )
        return value


def _schemas() -> dict[str, Schema]:
    return {
        "Suppression": object_schema(
            {
                "id": {"type": "string"},
                "number": {"type": "string", "description": "E.164; masked in the listing"},
                "category": {
                    **STR_OR_NULL,
                    "description": "the category suppressed; null: every category",
                },
                "source": {"type": "string", "enum": ["keyword", "api"]},
                "reason": STR_OR_NULL,
                "modem": {**STR_OR_NULL, "description": "the modem a keyword came to"},
                "created_at": {"type": "string", "format": "date-time"},
            }
        ),
        "SuppressionPage": page_schema("Suppression"),
        "NewSuppression": object_schema(
            {
                "number": {"type": "string"},
                "category": {
                    "type": "string",
                    "pattern": _CATEGORY_RE.pattern,
                    "description": "one category only; omitted: every category",
                },
                "reason": {"type": "string", "minLength": 1, "maxLength": MAX_REASON_CHARS},
            },
            optional=("category",),
        ),
    }


def _paths() -> dict[str, Any]:
    number = param("number", "query", {"type": "string"}, "look up this number (shown in full)")
    return {
        SUPPRESSIONS_PATH: {
            "get": secured(
                {
                    "operationId": "listSuppressions",
                    "summary": "The opt-out list, newest first (numbers masked), or one number's",
                    "parameters": [number, *PAGE_PARAMS],
                    "responses": {
                        "200": json_content("SuppressionPage", "one page"),
                        **error_responses("400", "401", "403"),
                    },
                },
                Scope.ADMIN,
            ),
            "post": secured(
                {
                    "operationId": "addSuppression",
                    "summary": "Put a number on the opt-out list (audited)",
                    "requestBody": json_body("NewSuppression"),
                    "responses": {
                        "201": json_content("Suppression", "added"),
                        "200": json_content("Suppression", "already on the list"),
                        **error_responses("400", "401", "403"),
                    },
                },
                Scope.ADMIN,
            ),
        },
        SUPPRESSION_PATH: {
            "delete": secured(
                {
                    "operationId": "removeSuppression",
                    "summary": "Take an entry off the opt-out list (audited)",
                    "parameters": [
                        param("id", "path", {"type": "string"}, "suppression id", required=True)
                    ],
                    "responses": {
                        "200": json_content("Suppression", "removed"),
                        **error_responses("401", "403", "404"),
                    },
                },
                Scope.ADMIN,
            )
        },
    }


def feature(
    metrics: Metrics | None = None, categories: Iterable[str] = DEFAULT_CATEGORIES
) -> Feature:
    api = SuppressionsApi(metrics, categories)
    return Feature(
        "suppressions",
        routes=(
            Route("GET", SUPPRESSIONS_PATH, api.list, Scope.ADMIN, head=True),
            Route("POST", SUPPRESSIONS_PATH, api.add, Scope.ADMIN),
            Route("DELETE", SUPPRESSION_PATH, api.remove, Scope.ADMIN),
        ),
        paths=_paths(),
        schemas=_schemas(),
    )
