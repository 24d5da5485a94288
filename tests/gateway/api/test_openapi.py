"""The OpenAPI document describes exactly the routes the server registers."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.errors import GatewayError
from gateway.http.features import API_FEATURES
from gateway.http.openapi import ERROR_CODES, document
from tests.gateway.api.conftest import SERVED_DOCUMENT, Api
from tests.gateway.api.schema_check import KNOWN_KEYWORDS


def _registered(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        if route.method != "HEAD":  # answered like GET, documented once with it
            found.add((route.method, resource.canonical))
    return found


async def test_every_route_is_documented_and_every_operation_served(
    client: TestClient[web.Request, web.Application],
) -> None:
    documented = {
        (method.upper(), path) for path, item in SERVED_DOCUMENT["paths"].items() for method in item
    }
    assert _registered(client.app) == documented


async def test_scopes_in_document_match_the_route_table() -> None:
    paths = SERVED_DOCUMENT["paths"]
    for route in (r for feature in API_FEATURES for r in feature.routes):
        operation = paths[route.path][route.method.lower()]
        assert operation["x-scope"] == (None if route.scope is None else route.scope.value)
        assert bool(operation["security"]) == (route.scope is not None)
        if route.scope is not None:
            assert "401" in operation["responses"]
            assert "403" in operation["responses"]


async def test_served_document_is_the_built_one(api: Api) -> None:
    reply = await api.call("GET", "/v1/openapi.json", key=None)
    assert reply.status == 200
    assert reply.body == document(API_FEATURES)
    assert reply.body["openapi"].startswith("3.1")
    assert reply.body["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def _walk_schemas(node: object) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    if isinstance(node, dict):
        if "schema" in node and isinstance(node["schema"], dict):
            found.append(node["schema"])
        for value in node.values():
            found += _walk_schemas(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk_schemas(value)
    return found


def test_schemas_use_only_keywords_the_checker_knows() -> None:
    def check(schema: object) -> None:
        if isinstance(schema, dict):
            assert set(schema) <= KNOWN_KEYWORDS, set(schema) - KNOWN_KEYWORDS
            for name, value in schema.items():
                if name == "properties":
                    for sub in value.values():
                        check(sub)
                elif name in ("items",):
                    check(value)

    doc = SERVED_DOCUMENT
    for schema in doc["components"]["schemas"].values():
        check(schema)
    for schema in _walk_schemas(doc["paths"]):
        check(schema)


def test_error_codes_documented_are_the_ones_raised() -> None:
    def subclasses(cls: type[GatewayError]) -> list[type[GatewayError]]:
        return [cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))]

    # Raised outside request handling (config, key file, the CLI's own client, a store
    # refused at open), or only as the base of more specific codes.
    not_served = {
        "config_invalid",
        "key_file",
        "daemon_unreachable",
        "conflict",
        "store_damaged",
        "store_missing",
    }
    api_codes = {cls.code for cls in subclasses(GatewayError)} - not_served
    assert api_codes <= set(ERROR_CODES)
