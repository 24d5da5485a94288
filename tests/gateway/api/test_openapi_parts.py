"""The served document is the core one extended by each route owner, with no name twice."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.http import modems_openapi, status_openapi
from gateway.http.openapi import document
from gateway.http.openapi_parts import error_responses, extend, object_schema
from gateway.webhooks import openapi as webhooks_openapi


def _served() -> dict[str, Any]:
    doc = document()
    for merged in (status_openapi.merged, modems_openapi.merged, webhooks_openapi.merged):
        doc = merged(doc)
    return doc


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_every_reference_in_the_served_document_resolves() -> None:
    doc = _served()
    for ref in _refs(doc):
        section, _, name = ref.removeprefix("#/components/").partition("/")
        assert name in doc["components"][section], ref


def test_healthz_keeps_the_core_status_schema() -> None:
    doc = _served()
    schema = doc["components"]["schemas"]["Status"]
    assert set(schema["properties"]) == {"status"}


def test_extending_does_not_change_the_document_it_was_given() -> None:
    core = document()
    paths = set(core["paths"])
    _served()
    assert set(core["paths"]) == paths
    assert "webhooks" not in core


@pytest.mark.parametrize(
    ("paths", "schemas"),
    [({"/healthz": {}}, {}), ({}, {"Status": object_schema({})})],
)
def test_a_name_defined_twice_is_refused(paths: dict[str, Any], schemas: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="defined twice"):
        extend(document(), paths=paths, schemas=schemas)


def test_error_responses_always_document_internal_error() -> None:
    refs = error_responses("404", named={"400": "CommandRefused"})
    assert refs == {
        "404": {"$ref": "#/components/responses/NotFound"},
        "500": {"$ref": "#/components/responses/InternalError"},
        "400": {"$ref": "#/components/responses/CommandRefused"},
    }
