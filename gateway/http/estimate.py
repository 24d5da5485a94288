"""``POST /v1/messages/estimate``: what a text would cost, before it is sent.

The answer comes from the service's own planning of the text (the route's national
table, the codec's cut), so the preview and the message sent cannot disagree.
Nothing is stored and nothing is audited: the request holds no patient's record.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from aiohttp import web

from drivers import pdu as pdu_codec
from gateway.errors import ValidationError
from gateway.http.context import CONTEXT
from gateway.http.feature import Feature, Route
from gateway.http.messages import read_json_object
from gateway.http.openapi_builders import (
    STR,
    Schema,
    error_responses,
    json_body,
    json_content,
    object_schema,
    secured,
)
from gateway.http.resources import json_response
from gateway.http.template_sends import expand_object
from gateway.http.validation import MAX_NUMBER_CHARS
from gateway.store.base import Scope

ESTIMATE_PATH: Final = "/v1/messages/estimate"
# category may come from a template's expansion; it does not change the cost.
ESTIMATE_FIELDS: Final = frozenset({"body", "to", "category", "template", "variables"})


class Estimator(Protocol):
    def estimate(self, text: str, to: str | None) -> pdu_codec.Measure:
        """The send path's plan of ``text`` to ``to`` (its route's national table)."""
        ...


def estimate_json(measure: pdu_codec.Measure) -> dict[str, Any]:
    return {
        "encoding": measure.encoding.value,
        "national_table": measure.national,
        "segment_count": measure.segment_count,
        "characters": measure.units,
        "characters_per_segment": measure.units_per_segment,
        "characters_left": measure.units_left,
        "ucs2_characters": list(measure.ucs2_forcing),
    }


def _text_field(obj: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", field=name)
    if name == "to" and len(value) > MAX_NUMBER_CHARS:
        raise ValidationError(f"to holds at most {MAX_NUMBER_CHARS} characters", field="to")
    return value


def feature(estimator: Estimator) -> Feature:
    async def post_estimate(request: web.Request) -> web.Response:
        obj = await read_json_object(request)
        for field in obj:  # what the client sent; the template adds what a send would take
            if field not in ESTIMATE_FIELDS:
                raise ValidationError("unknown field", field=field[:64])
        expanded = await expand_object(obj, request.app[CONTEXT].service.store)
        body = _text_field(expanded, "body", required=True) or ""
        measure = estimator.estimate(body, _text_field(expanded, "to", required=False))
        return json_response(estimate_json(measure))

    return Feature(
        "estimate",
        routes=(Route("POST", ESTIMATE_PATH, post_estimate, Scope.SEND),),
        paths=_paths(),
        schemas=_schemas(),
    )


def _schemas() -> dict[str, Schema]:
    count = {"type": "integer", "minimum": 0}
    return {
        "EstimateRequest": object_schema(
            {
                "body": {"type": "string", "minLength": 1},
                "template": {"type": "string", "description": "instead of body"},
                "variables": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "number"]},
                    "description": "the template's variables",
                },
                "to": {
                    "type": "string",
                    "maxLength": MAX_NUMBER_CHARS,
                    "description": "with it, the national language table of the number's "
                    "route is offered, as a send would",
                },
                "category": STR,
            },
            optional=("body", "template", "variables", "to", "category"),
        ),
        "Estimate": object_schema(
            {
                "encoding": {"type": "string", "enum": ["gsm7", "ucs2"]},
                "national_table": {
                    "type": ["string", "null"],
                    "enum": ["es", "pt", "tr", None],
                    "description": "the GSM-7 national language table the text uses, if any",
                },
                "segment_count": {"type": "integer", "minimum": 1},
                "characters": {
                    **count,
                    "description": "in the encoding's units: an extension character "
                    "(€ [ ] { } ~ ^ | \\) counts two in GSM-7, an emoji two in UCS-2",
                },
                "characters_per_segment": {
                    **count,
                    "description": "160 or 153 in GSM-7 (fewer with a national table), "
                    "70 or 67 in UCS-2",
                },
                "characters_left": {**count, "description": "room left in the last segment"},
                "ucs2_characters": {
                    "type": "array",
                    "items": STR,
                    "description": "in UCS-2: the characters to remove for GSM-7, each once",
                },
            }
        ),
    }


def _paths() -> dict[str, Any]:
    return {
        ESTIMATE_PATH: {
            "post": secured(
                {
                    "operationId": "estimate_message",
                    "summary": "Preview a text's encoding and segments without sending it",
                    "description": "The same planning a send uses: a template is rendered, "
                    "the number's route decides the national table. Nothing is stored.",
                    "requestBody": json_body("EstimateRequest"),
                    "responses": {
                        "200": json_content("Estimate", "what a send would use"),
                        **error_responses("400", "401", "403", "413", "415"),
                    },
                },
                Scope.SEND,
            )
        }
    }
