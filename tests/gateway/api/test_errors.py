"""Every error code, its status and field; a good request still works after each bad one."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from gateway.config import ApiSettings
from gateway.core.service import GatewayService
from gateway.daemon import Daemon
from gateway.errors import (
    BatchTooLarge,
    EmptyText,
    Forbidden,
    IdempotencyConflict,
    InvalidJson,
    InvalidNumber,
    InvalidPriority,
    InvalidTime,
    MethodNotAllowed,
    NotCancellable,
    NotFound,
    PayloadTooLarge,
    TextTooLong,
    Unauthorized,
    Unavailable,
    UnknownField,
    UnsupportedMediaType,
    ValidationError,
)
from gateway.store.base import Store
from tests.gateway.api.conftest import Api

PATIENT = "+15551237777"
SECRET_TEXT = "Your biopsy result is ready"
GOOD = {"to": PATIENT, "body": SECRET_TEXT}

# (name, request, status, code, field): request is (method, path, key, body)
# where body is a dict (sent as JSON) or bytes (sent raw with Content-Type JSON).
CASES: list[tuple[str, tuple[str, str, str | None, Any], int, str, str | None]] = [
    ("malformed json", ("POST", "/v1/messages", "send", b'{"to": '), 400, InvalidJson.code, None),
    ("not utf-8", ("POST", "/v1/messages", "send", b'{"to": "\xff"}'), 400, "invalid_json", None),
    ("NaN", ("POST", "/v1/messages", "send", b'{"to": NaN}'), 400, "invalid_json", None),
    ("empty body", ("POST", "/v1/messages", "send", b""), 400, "invalid_json", None),
    (
        "duplicate key",
        ("POST", "/v1/messages", "send", b'{"to": "+15551237777", "body": "a", "to": "+15550000"}'),
        400,
        "invalid_json",
        None,
    ),
    (
        "duplicate key, nested",
        (
            "POST",
            "/v1/messages",
            "send",
            b'{"to": "+15551237777", "body": "a", "metadata": {"k": 1, "k": 2}}',
        ),
        400,
        "invalid_json",
        None,
    ),
    (
        # Found by the request_body fuzz target: 1e400 was kept as infinity and answered
        # back as the non-JSON token Infinity.
        "number beyond a float",
        (
            "POST",
            "/v1/messages",
            "send",
            b'{"to": "+15551237777", "body": "a", "metadata": {"dose": 1e400}}',
        ),
        400,
        "invalid_json",
        None,
    ),
    (
        "body of NUL",
        ("POST", "/v1/messages", "send", {**GOOD, "body": "\u0000"}),
        400,
        "invalid_text",
        "body",
    ),
    (
        "body of NULs",
        ("POST", "/v1/messages", "send", {**GOOD, "body": "\u0000\u0000\u0000"}),
        400,
        "invalid_text",
        "body",
    ),
    (
        "body of line breaks only",
        ("POST", "/v1/messages", "send", {**GOOD, "body": "\r\n\t\f"}),
        400,
        "empty_text",
        "body",
    ),
    (
        "body with a C1 control",
        ("POST", "/v1/messages", "send", {**GOOD, "body": "ok\u0085"}),
        400,
        "invalid_text",
        "body",
    ),
    (
        "body with a control character",
        ("POST", "/v1/messages", "send", {**GOOD, "body": "ok\u0007"}),
        400,
        "invalid_text",
        "body",
    ),
    ("deep nesting", ("POST", "/v1/messages", "send", b"[" * 50_000), 400, "invalid_json", None),
    ("array", ("POST", "/v1/messages", "send", b"[]"), 400, ValidationError.code, None),
    ("missing to", ("POST", "/v1/messages", "send", {"body": "x"}), 400, "invalid_request", "to"),
    (
        "missing body",
        ("POST", "/v1/messages", "send", {"to": PATIENT}),
        400,
        "invalid_request",
        "body",
    ),
    (
        "to not str",
        ("POST", "/v1/messages", "send", {**GOOD, "to": 15551237777}),
        400,
        "invalid_request",
        "to",
    ),
    (
        "ttl float",
        ("POST", "/v1/messages", "send", {**GOOD, "ttl": 1.5}),
        400,
        "invalid_request",
        "ttl",
    ),
    (
        "ttl bool",
        ("POST", "/v1/messages", "send", {**GOOD, "ttl": True}),
        400,
        "invalid_request",
        "ttl",
    ),
    (
        "ttl zero",
        ("POST", "/v1/messages", "send", {**GOOD, "ttl": 0}),
        400,
        InvalidTime.code,
        "ttl",
    ),
    (
        "tags not list",
        ("POST", "/v1/messages", "send", {**GOOD, "tags": "a"}),
        400,
        "invalid_request",
        "tags",
    ),
    (
        "tag not str",
        ("POST", "/v1/messages", "send", {**GOOD, "tags": ["a", 1]}),
        400,
        "invalid_request",
        "tags[1]",
    ),
    (
        "metadata list",
        ("POST", "/v1/messages", "send", {**GOOD, "metadata": []}),
        400,
        "invalid_request",
        "metadata",
    ),
    (
        "metadata big",
        ("POST", "/v1/messages", "send", {**GOOD, "metadata": {"a": "x" * 5000}}),
        400,
        "invalid_request",
        "metadata",
    ),
    (
        "report not bool",
        ("POST", "/v1/messages", "send", {**GOOD, "request_report": "yes"}),
        400,
        "invalid_request",
        "request_report",
    ),
    (
        "key not str",
        ("POST", "/v1/messages", "send", {**GOOD, "idempotency_key": 7}),
        400,
        "invalid_request",
        "idempotency_key",
    ),
    (
        "unknown field",
        ("POST", "/v1/messages", "send", {**GOOD, "from": "x"}),
        400,
        UnknownField.code,
        "from",
    ),
    (
        "bad number",
        ("POST", "/v1/messages", "send", {**GOOD, "to": "+1555"}),
        400,
        InvalidNumber.code,
        "to",
    ),
    (
        "alphanumeric",
        ("POST", "/v1/messages", "send", {**GOOD, "to": "CLINIC"}),
        400,
        "invalid_number",
        "to",
    ),
    (
        "empty text",
        ("POST", "/v1/messages", "send", {**GOOD, "body": ""}),
        400,
        EmptyText.code,
        "body",
    ),
    (
        "blank text",
        ("POST", "/v1/messages", "send", {**GOOD, "body": " \n "}),
        400,
        "empty_text",
        "body",
    ),
    (
        "overlong text",
        ("POST", "/v1/messages", "send", {**GOOD, "body": "x" * 1000}),
        400,
        TextTooLong.code,
        "body",
    ),
    (
        "priority",
        ("POST", "/v1/messages", "send", {**GOOD, "priority": "asap"}),
        400,
        InvalidPriority.code,
        "priority",
    ),
    (
        "priority type",
        ("POST", "/v1/messages", "send", {**GOOD, "priority": 1}),
        400,
        "invalid_request",
        "priority",
    ),
    (
        "send_at",
        ("POST", "/v1/messages", "send", {**GOOD, "send_at": "tomorrow"}),
        400,
        "invalid_time",
        "send_at",
    ),
    (
        "send_at naive",
        ("POST", "/v1/messages", "send", {**GOOD, "send_at": "2030-01-01T09:00:00"}),
        400,
        "invalid_time",
        "send_at",
    ),
    (
        "send_at date",
        ("POST", "/v1/messages", "send", {**GOOD, "send_at": "2030-02-30T09:00:00Z"}),
        400,
        "invalid_time",
        "send_at",
    ),
    (
        "batch not list",
        ("POST", "/v1/messages/batch", "send", {"messages": {}}),
        400,
        "invalid_request",
        "messages",
    ),
    (
        "batch empty",
        ("POST", "/v1/messages/batch", "send", {"messages": []}),
        400,
        "invalid_request",
        "messages",
    ),
    (
        "batch unknown",
        ("POST", "/v1/messages/batch", "send", {"messages": [GOOD], "x": 1}),
        400,
        "unknown_field",
        "x",
    ),
    (
        "batch item type",
        ("POST", "/v1/messages/batch", "send", {"messages": [GOOD, 3]}),
        400,
        "invalid_request",
        "messages[1]",
    ),
    (
        "batch item",
        (
            "POST",
            "/v1/messages/batch",
            "send",
            {"messages": [GOOD, GOOD, GOOD, {**GOOD, "to": "x1"}]},
        ),
        400,
        "invalid_number",
        "messages[3].to",
    ),
    (
        "batch text",
        ("POST", "/v1/messages/batch", "send", {"messages": [GOOD, {**GOOD, "body": ""}]}),
        400,
        "empty_text",
        "messages[1].body",
    ),
    (
        "batch field",
        ("POST", "/v1/messages/batch", "send", {"messages": [{**GOOD, "bogus": 1}]}),
        400,
        "unknown_field",
        "messages[0].bogus",
    ),
    (
        "batch size",
        ("POST", "/v1/messages/batch", "send", {"messages": [GOOD] * 51}),
        400,
        BatchTooLarge.code,
        "messages",
    ),
    ("list limit", ("GET", "/v1/messages?limit=0", "read", None), 400, "invalid_request", "limit"),
    (
        "list limit big",
        ("GET", "/v1/messages?limit=100000", "read", None),
        400,
        "invalid_request",
        "limit",
    ),
    (
        "list state",
        ("GET", "/v1/messages?state=lost", "read", None),
        400,
        "invalid_request",
        "state",
    ),
    ("list param", ("GET", "/v1/messages?sate=queued", "read", None), 400, "unknown_field", "sate"),
    (
        "list twice",
        ("GET", "/v1/messages?tag=a&tag=b", "read", None),
        400,
        "invalid_request",
        "tag",
    ),
    (
        "list to",
        ("GET", f"/v1/messages?to={PATIENT[1:5]}", "read", None),
        400,
        "invalid_number",
        "to",
    ),
    (
        "list since",
        ("GET", "/v1/messages?since=yesterday", "read", None),
        400,
        "invalid_time",
        "since",
    ),
    ("inbound from", ("GET", "/v1/inbound?from=%2B1", "read", None), 400, "invalid_number", "from"),
    ("events limit", ("GET", "/v1/events?limit=x", "admin", None), 400, "invalid_request", "limit"),
    ("unknown id", ("GET", "/v1/messages/msg_NOPE", "read", None), 404, NotFound.code, None),
    ("long id", ("GET", "/v1/messages/" + "m" * 300, "read", None), 404, "not_found", None),
    ("cancel unknown", ("DELETE", "/v1/messages/msg_NOPE", "send", None), 404, "not_found", None),
    ("unknown inbound", ("GET", "/v1/inbound/in_NOPE", "read", None), 404, "not_found", None),
    ("unknown route", ("GET", "/v2/messages", None, None), 404, "not_found", None),
    ("wrong method", ("PUT", "/v1/messages", "admin", None), 405, MethodNotAllowed.code, None),
    ("no key", ("GET", "/v1/messages", None, None), 401, Unauthorized.code, None),
    ("bogus key", ("GET", "/v1/messages", "bogus", None), 401, "unauthorized", None),
    ("revoked key", ("GET", "/v1/messages", "revoked", None), 401, "unauthorized", None),
    ("read cannot send", ("POST", "/v1/messages", "read", GOOD), 403, Forbidden.code, None),
    ("send cannot read", ("GET", "/v1/messages", "send", None), 403, "forbidden", None),
    ("send cannot list modems", ("GET", "/v1/modems", "send", None), 403, "forbidden", None),
    ("read cannot see events", ("GET", "/v1/events", "read", None), 403, "forbidden", None),
]


@pytest.mark.parametrize(
    ("request_", "status", "code", "field"),
    [pytest.param(c[1], c[2], c[3], c[4], id=c[0]) for c in CASES],
)
async def test_error_codes(
    api: Api,
    caplog: pytest.LogCaptureFixture,
    request_: tuple[str, str, str | None, Any],
    status: int,
    code: str,
    field: str | None,
) -> None:
    caplog.set_level(logging.DEBUG)
    method, path, key, body = request_
    if isinstance(body, bytes):
        reply = await api.call(
            method, path, key=key, data=body, headers={"Content-Type": "application/json"}
        )
    elif body is None:
        reply = await api.call(method, path, key=key)
    else:
        reply = await api.call(method, path, key=key, json=body)
    assert (reply.status, reply.code, reply.field) == (status, code, field), reply.body
    # The service keeps working after bad input.
    good = await api.send(key="send")
    assert good.status == 202
    # Nothing the client sent reaches the logs or the error text.
    for leak in (PATIENT, PATIENT[2:], SECRET_TEXT):
        assert leak not in caplog.text
        assert leak not in json.dumps(reply.body)


async def test_unauthorized_carries_www_authenticate(api: Api) -> None:
    for key in (None, "bogus"):
        reply = await api.call("GET", "/v1/modems", key=key)
        assert reply.status == 401
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    reply = await api.call(
        "GET", "/v1/modems", key=None, headers={"Authorization": "Basic dXNlcjpwYXNz"}
    )
    assert (reply.status, reply.code) == (401, "unauthorized")


async def test_unsupported_media_type(api: Api) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        reply = await api.call(
            "POST",
            "/v1/messages",
            key="send",
            data=json.dumps(GOOD),
            headers={"Content-Type": content_type},
        )
        assert (reply.status, reply.code) == (415, UnsupportedMediaType.code)


async def test_huge_body_is_413_in_our_envelope(api: Api, settings: ApiSettings) -> None:
    huge = json.dumps({**GOOD, "body": "x" * (settings.max_body_bytes + 1)})
    reply = await api.call(
        "POST",
        "/v1/messages",
        key="send",
        data=huge,
        headers={"Content-Type": "application/json"},
    )
    assert (reply.status, reply.code) == (413, PayloadTooLarge.code)
    assert str(settings.max_body_bytes) in reply.body["error"]["message"]
    assert (await api.send(key="send")).status == 202


async def test_not_cancellable(api: Api, store: Store) -> None:
    sent = await api.send(key="send")
    await store.segment_sending(sent.body["id"], 1, "modem-a")
    reply = await api.call("DELETE", f"/v1/messages/{sent.body['id']}", key="send")
    assert (reply.status, reply.code) == (409, NotCancellable.code)


async def test_idempotency_conflict(api: Api) -> None:
    assert (await api.send(idempotency_key="k-9")).status == 202
    reply = await api.send(idempotency_key="k-9", body="a different text")
    assert (reply.status, reply.code) == (409, IdempotencyConflict.code)
    differing = await api.call(
        "POST",
        "/v1/messages",
        json={**GOOD, "idempotency_key": "a"},
        headers={"Idempotency-Key": "b"},
    )
    assert (differing.status, differing.code, differing.field) == (
        400,
        "invalid_request",
        "idempotency_key",
    )


async def test_batch_is_all_or_nothing(api: Api, store: Store) -> None:
    items = [{**GOOD, "tags": ["atomic"]}, {**GOOD, "tags": ["atomic"], "to": "+1"}]
    reply = await api.call("POST", "/v1/messages/batch", json={"messages": items})
    assert reply.code == "invalid_number"
    listed = await api.call("GET", "/v1/messages?tag=atomic")
    assert listed.body["items"] == []


async def test_unexpected_exception_is_500_logged_without_phi(
    api: Api, service: GatewayService, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: object) -> None:
        raise RuntimeError("boom")

    service.submit = broken  # type: ignore[assignment,method-assign]
    reply = await api.send(key="send", to=PATIENT, body=SECRET_TEXT)
    assert (reply.status, reply.code) == (500, "internal_error")
    assert "boom" not in json.dumps(reply.body)
    records = [r for r in caplog.records if r.name == "gateway.http.middlewares"]
    assert records
    assert records[0].exc_info is not None
    assert PATIENT not in caplog.text
    assert SECRET_TEXT not in caplog.text


async def test_service_unavailable_is_503(api: Api, service: GatewayService) -> None:
    async def closed(*_: object, **_kw: object) -> None:
        raise Unavailable("shutting down")

    service.submit = closed  # type: ignore[assignment,method-assign]
    reply = await api.send(key="send")
    assert (reply.status, reply.code) == (503, "unavailable")


async def test_batch_refuses_the_idempotency_header(api: Api) -> None:
    reply = await api.call(
        "POST",
        "/v1/messages/batch",
        json={"messages": [GOOD]},
        headers={"Idempotency-Key": "whole-batch"},
    )
    assert (reply.status, reply.code, reply.field) == (400, "invalid_request", "Idempotency-Key")


async def test_bad_cursor_is_a_client_error(api: Api) -> None:
    for path in ("/v1/messages", "/v1/inbound", "/v1/events"):
        for cursor in ("%25%25", "_w"):  # not a token; a token that decodes to garbage
            reply = await api.call("GET", f"{path}?cursor={cursor}", key="admin")
            assert (reply.status, reply.code, reply.field) == (400, "invalid_request", "cursor")


async def test_a_stopping_daemon_answers_503_everywhere(api: Api, daemon: Daemon) -> None:
    await daemon.stop()  # the fixture's stop() afterwards is a no-op on a stopped daemon
    for method, path in (("GET", "/v1/messages"), ("POST", "/v1/messages/batch")):
        reply = await api.call(method, path, json={"messages": [GOOD]})
        assert (reply.status, reply.code) == (503, "unavailable")
    assert (await api.call("GET", "/healthz", key=None)).status == 200


def test_an_integral_ttl_written_as_a_float_is_an_integer() -> None:
    """JSON Schema's integer includes 60.0, so a client checked against the document may
    send it; 1.5 stays refused (above)."""
    from gateway.http.validation import parse_send

    assert parse_send({"to": "+15551234567", "body": "x", "ttl": 60.0}, "").ttl == 60.0
