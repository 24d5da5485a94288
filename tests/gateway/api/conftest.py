"""The API over real HTTP on 127.0.0.1 in front of the real daemon (no modems), with
its real SQLite store and key file in tmp_path and real API keys.

Every answer a test receives through ``Api.call`` is checked against the
OpenAPI document: its status must be documented for that operation and its
body must match the schema, so the document cannot drift from the server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy

from gateway.config import ApiSettings, Config, ServerConfig, StoreConfig
from gateway.core.service import GatewayService
from gateway.crypto import KeyRing
from gateway.daemon import Daemon, RuntimeSettings
from gateway.http.access_log import AccessLog
from gateway.http.app import make_app
from gateway.http.features import API_FEATURES
from gateway.http.openapi import document
from gateway.store.base import Scope, Store
from tests.gateway.api.schema_check import errors, resolve
from tests.gateway.api.service_double import ServiceDouble

KEY_SCOPES: dict[str, frozenset[Scope]] = {
    "send": frozenset({Scope.SEND}),
    "read": frozenset({Scope.READ}),
    "read_all": frozenset({Scope.READ_ALL}),
    "admin": frozenset({Scope.ADMIN}),
    "send_read": frozenset({Scope.SEND, Scope.READ}),
    "revoked": frozenset({Scope.ADMIN}),
}
_UNSET: Any = object()
# What the app these tests serve answers at /v1/openapi.json.
SERVED_DOCUMENT = document(API_FEATURES)


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any
    headers: CIMultiDictProxy[str]

    @property
    def code(self) -> str | None:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return None if error is None else str(error["code"])

    @property
    def field(self) -> str | None:
        field = self.body["error"]["field"]
        return None if field is None else str(field)


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template)))


def response_schema(method: str, path: str, status: int) -> dict[str, Any]:
    """The schema a documented answer must match; unknown routes answer with Error."""
    doc = SERVED_DOCUMENT
    bare = path.split("?", 1)[0]
    # Literal paths win over templates, as in the router (/v1/messages/batch).
    candidates = sorted(doc["paths"], key=lambda p: "{" in p)
    for template in candidates:
        if _template_regex(template).fullmatch(bare):
            operation = doc["paths"][template].get(method.lower())
            if operation is None:
                continue
            response = operation["responses"].get(str(status))
            assert response is not None, f"{method} {template} answered undocumented {status}"
            if "$ref" in response:
                response = resolve(doc, response["$ref"])
            return response["content"]["application/json"]["schema"]  # type: ignore[no-any-return]
    assert status in (404, 405), f"{method} {bare} matched no documented operation"
    return {"$ref": "#/components/schemas/Error"}


class Api:
    def __init__(
        self, client: TestClient[web.Request, web.Application], tokens: Mapping[str, str]
    ) -> None:
        self.client = client
        self.tokens = tokens

    async def call(
        self,
        method: str,
        path: str,
        *,
        key: str | None = "admin",
        json: Any = _UNSET,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {self.tokens[key]}"
        extra: dict[str, Any] = {} if json is _UNSET else {"json": json}
        async with self.client.request(method, path, data=data, headers=sent, **extra) as resp:
            assert resp.content_type == "application/json", await resp.text()
            body = await resp.json()
            reply = Reply(resp.status, body, resp.headers)
        problems = errors(SERVED_DOCUMENT, response_schema(method, path, reply.status), body)
        assert not problems, problems
        return reply

    async def send(self, key: str = "admin", **fields: Any) -> Reply:
        message = {"to": "+15551230000", "body": "Your appointment is at 9:30.", **fields}
        return await self.call("POST", "/v1/messages", key=key, json=message)


@pytest.fixture
def settings() -> ApiSettings:
    # Small limits so the limit tests stay cheap.
    return ApiSettings(max_body_bytes=64 * 1024, max_batch=50, max_segments=3)


@pytest.fixture
async def daemon(tmp_path: Path, settings: ApiSettings) -> AsyncIterator[Daemon]:
    """The real service with no modems: it accepts and queues, and is never ready."""
    KeyRing.create(tmp_path / "smsgw.key")
    config = Config(
        path=tmp_path / "smsgw.toml",
        server=ServerConfig(
            port=0,
            default_country="1",
            max_body_bytes=settings.max_body_bytes,
            max_batch=settings.max_batch,
            max_segments=settings.max_segments,
        ),
        store=StoreConfig(data_dir=tmp_path, key_file=tmp_path / "smsgw.key", retention_days=0),
        modems=(),
    )
    daemon = Daemon(config, settings=RuntimeSettings(serve_http=False))
    await daemon.start()
    yield daemon
    await daemon.stop()


@pytest.fixture
def store(daemon: Daemon) -> Store:
    return daemon.store


@pytest.fixture
def service(daemon: Daemon) -> GatewayService:
    return daemon.gateway


@pytest.fixture
def double(store: Store, settings: ApiSettings) -> ServiceDouble:
    """A modem-less service whose readiness and modem list a test sets."""
    return ServiceDouble(store, settings, default_country="1")


async def _serve(service: GatewayService) -> TestClient[web.Request, web.Application]:
    server = TestServer(make_app(service, API_FEATURES, default_country="1"))
    await server.start_server(access_log_class=AccessLog)  # as start_api runs it
    return TestClient(server)


async def _tokens(store: Store) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for name, scopes in KEY_SCOPES.items():
        key, tokens[name] = await store.create_api_key(name, scopes)
        if name == "revoked":
            await store.revoke_api_key(key.id)
    tokens["bogus"] = "sgw_key_0000_not-a-real-secret"
    return tokens


@pytest.fixture
async def client(
    service: GatewayService,
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with await _serve(service) as client:
        yield client


@pytest.fixture
async def api(client: TestClient[web.Request, web.Application], store: Store) -> Api:
    return Api(client, await _tokens(store))


@pytest.fixture
async def double_api(double: ServiceDouble, store: Store) -> AsyncIterator[Api]:
    async with await _serve(double) as client:
        yield Api(client, await _tokens(store))
