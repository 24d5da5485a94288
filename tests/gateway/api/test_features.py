"""The app is built once from features: routes, scopes and document agree, and it is frozen.

The daemon's whole feature list (API, status page, /metrics, modem actions, webhooks,
Twilio, Kannel) is checked here, not only the /v1 core.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from aiohttp import web

from gateway.daemon import Daemon
from gateway.http import Feature, Route, make_app
from gateway.http.context import CONTEXT
from gateway.http.feature import RouteTableError
from gateway.http.features import API_FEATURES, daemon_features
from gateway.http.openapi import document
from gateway.http.openapi_builders import error_responses, object_schema, public
from gateway.metrics import Metrics
from gateway.store.base import Scope


def _features(daemon: Daemon) -> tuple[Feature, ...]:
    """What ``Daemon._start_http`` serves (a fresh Metrics: the daemon's has its collector)."""
    assert daemon.integrations is not None
    return (*daemon_features(daemon.gateway, Metrics()), *daemon.integrations.features())


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({})


def _documented(name: str, path: str, **schemas: dict[str, Any]) -> Feature:
    operation = public({"operationId": name, "responses": error_responses()})
    return Feature(
        name, (Route("GET", path, _ok, None),), paths={path: {"get": operation}}, schemas=schemas
    )


async def test_the_daemons_routes_and_document_match_both_ways(daemon: Daemon) -> None:
    features = _features(daemon)
    app = make_app(daemon.gateway, features)
    doc = app[CONTEXT].openapi
    documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    undocumented = {(r.method, r.path) for f in features for r in f.routes if not r.documented}
    registered = set()
    for route in app.router.routes():
        assert route.resource is not None
        if route.method != "HEAD":
            registered.add((route.method, route.resource.canonical))
    assert registered - undocumented == documented
    assert {"/v1/status", "/v1/audit", "/v1/modems/{name}/at", "/v1/webhooks"} <= set(doc["paths"])
    assert ("GET", "/metrics") in undocumented


async def test_the_scope_table_is_the_routes_scopes(daemon: Daemon) -> None:
    features = _features(daemon)
    app = make_app(daemon.gateway, features)
    scopes = app[CONTEXT].scopes
    routes = [r for f in features for r in f.routes]
    assert len(scopes) == len(routes) + sum(r.head for r in routes)
    for route in routes:
        assert scopes[(route.method, route.path)] is route.scope
        if route.head:
            assert scopes[("HEAD", route.path)] is route.scope
    # The ones a technician's tools rely on, as before the features were split.
    assert scopes[("HEAD", "/v1/audit")] is Scope.ADMIN
    assert scopes[("POST", "/v1/modems/{name}/reset")] is Scope.ADMIN
    assert scopes[("GET", "/metrics")] is None


async def test_every_reference_in_the_served_document_resolves(daemon: Daemon) -> None:
    doc = document(_features(daemon))
    for ref in _refs(doc):
        section, _, name = ref.removeprefix("#/components/").partition("/")
        assert name in doc["components"][section], ref


def test_healthz_keeps_the_core_status_schema() -> None:
    schema = document(API_FEATURES)["components"]["schemas"]["Status"]
    assert set(schema["properties"]) == {"status"}


async def test_the_app_is_frozen_once_built(daemon: Daemon) -> None:
    app = make_app(daemon.gateway, API_FEATURES)
    with pytest.raises(RuntimeError, match="frozen"):
        app.router.add_get("/late", _ok)


def test_building_the_document_leaves_the_features_as_they_were() -> None:
    before = {f.name: set(f.paths) for f in API_FEATURES}
    doc = document(API_FEATURES)
    doc["paths"].clear()
    assert {f.name: set(f.paths) for f in API_FEATURES} == before
    assert "webhooks" not in document(API_FEATURES)


def test_a_path_defined_twice_is_refused() -> None:
    with pytest.raises(RouteTableError, match="path defined twice: /healthz"):
        document([*API_FEATURES, _documented("again", "/healthz")])


def test_a_schema_defined_twice_alike_is_one_and_differently_is_refused() -> None:
    same = object_schema({"status": {"type": "string", "enum": ["ok", "ready"]}})
    assert document([*API_FEATURES, _documented("a", "/a", Status=same)])
    with pytest.raises(RouteTableError, match="schema defined twice: Status"):
        document([*API_FEATURES, _documented("b", "/b", Status=object_schema({}))])


async def test_a_route_defined_twice_is_refused(daemon: Daemon) -> None:
    twice = Feature("twice", (Route("GET", "/x", _ok, None, documented=False),) * 2)
    with pytest.raises(RouteTableError, match="route defined twice: GET /x"):
        make_app(daemon.gateway, [*API_FEATURES, twice])


async def test_a_route_and_its_description_apart_are_refused(daemon: Daemon) -> None:
    bare = Feature("bare", (Route("GET", "/undescribed", _ok, Scope.READ),))
    with pytest.raises(RouteTableError, match="differ"):
        make_app(daemon.gateway, [*API_FEATURES, bare])
    described = _documented("other_scope", "/scoped")
    wrong = Feature("wrong", (Route("GET", "/scoped", _ok, Scope.ADMIN),), paths=described.paths)
    with pytest.raises(RouteTableError, match="scope"):
        make_app(daemon.gateway, [*API_FEATURES, wrong])


def test_error_responses_always_document_internal_error() -> None:
    refs = error_responses("404", named={"400": "CommandRefused"})
    assert refs == {
        "404": {"$ref": "#/components/responses/NotFound"},
        "500": {"$ref": "#/components/responses/InternalError"},
        "400": {"$ref": "#/components/responses/CommandRefused"},
    }


def _loaded_by(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def test_webhook_events_format_times_without_the_http_layer() -> None:
    loaded = _loaded_by("gateway.webhooks.events")
    assert "gateway.timefmt" in loaded
    assert not {m for m in loaded if m.startswith(("gateway.http", "aiohttp"))}


def test_the_http_layer_does_not_load_the_compatibility_shapes() -> None:
    loaded = _loaded_by("gateway.http.features")
    assert not {m for m in loaded if m.startswith("gateway.compat")}
