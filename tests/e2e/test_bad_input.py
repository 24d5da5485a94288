"""Bad input gets a 4xx with a stable code, and the daemon keeps working."""

from __future__ import annotations

import io
from typing import Any

from tests.e2e.conftest import Gateway

JSON = {"Content-Type": "application/json"}

CASES: list[tuple[str, dict[str, Any], int, str]] = [
    (
        "malformed json",
        {"data": b'{"to": "+15551234567", "body": ', "headers": JSON},
        400,
        "invalid_json",
    ),
    ("not an object", {"json": ["+15551234567"]}, 400, "invalid_request"),
    ("wrong type", {"json": {"to": 15551234567, "body": "hi"}}, 400, "invalid_request"),
    (
        "unknown field",
        {"json": {"to": "+15551234567", "body": "hi", "colour": "red"}},
        400,
        "unknown_field",
    ),
    ("missing body", {"json": {"to": "+15551234567"}}, 400, "invalid_request"),
    ("bad number", {"json": {"to": "call me maybe", "body": "hi"}}, 400, "invalid_number"),
    ("short number", {"json": {"to": "+12", "body": "hi"}}, 400, "invalid_number"),
    ("empty text", {"json": {"to": "+15551234567", "body": ""}}, 400, "empty_text"),
    ("overlong text", {"json": {"to": "+15551234567", "body": "x" * 5000}}, 400, "text_too_long"),
    (
        "bad priority",
        {"json": {"to": "+15551234567", "body": "hi", "priority": "asap"}},
        400,
        "invalid_priority",
    ),
    (
        "huge body",
        {"data": io.BytesIO(b"{" + b" " * 2_000_000 + b"}"), "headers": JSON},
        413,
        "payload_too_large",
    ),
    (
        "not json",
        {"data": b"to=1&body=2", "headers": {"Content-Type": "text/plain"}},
        415,
        "unsupported_media_type",
    ),
]


async def test_each_bad_request_gets_its_code_and_the_daemon_keeps_working(
    gateway: Gateway,
) -> None:
    for name, kwargs, status, code in CASES:
        got, body = await gateway.request("POST", "/v1/messages", **dict(kwargs))
        assert got == status, (name, body)
        assert body["error"]["code"] == code, (name, body)
        ok, msg = await gateway.request(
            "POST", "/v1/messages", json={"to": "+15551234567", "body": "ok"}
        )
        assert ok == 202, (name, msg)


async def test_keys_and_scopes(gateway: Gateway) -> None:
    assert gateway.session is not None
    url = gateway.url + "/v1/messages"
    async with gateway.session.post(url, json={"to": "+15551234567", "body": "x"}) as r:
        assert r.status == 401
        assert (await r.json())["error"]["code"] == "unauthorized"
    bad = {"Authorization": "Bearer sgw_nope_nope"}
    async with gateway.session.post(
        url, json={"to": "+15551234567", "body": "x"}, headers=bad
    ) as r:
        assert r.status == 401
    status, body = await gateway.request("GET", "/v1/messages/msg_doesnotexist")
    assert status == 404
    assert body["error"]["code"] == "not_found"
