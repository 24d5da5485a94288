"""Categories over HTTP: on every message, refused when unknown, filtered, documented."""

from __future__ import annotations

from types import MappingProxyType

from gateway.config import DEFAULT_CATEGORIES, CategoryConfig
from tests.gateway.runtime.clinic import PATIENT, call, token
from tests.gateway.runtime.conftest import RigFactory


async def test_a_message_carries_its_category_and_the_list_filters_on_it(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(serve_http=True)
    secret = await token(rig)
    status, survey = await call(
        rig,
        secret,
        "POST",
        "/v1/messages",
        json={"to": PATIENT, "body": "How was your visit?", "category": "survey"},
    )
    assert status == 202
    assert survey["category"] == "survey"
    _, plain = await call(rig, secret, "POST", "/v1/messages", json={"to": PATIENT, "body": "Hi"})
    assert plain["category"] == "care"
    status, batch = await call(
        rig,
        secret,
        "POST",
        "/v1/messages/batch",
        json={"messages": [{"to": PATIENT, "body": "Due for a check-up", "category": "reminder"}]},
    )
    assert status == 202
    stored = await rig.message(survey["id"])
    assert stored.category == "survey"
    _, shown = await call(rig, secret, "GET", f"/v1/messages/{batch['messages'][0]['id']}")
    assert shown["category"] == "reminder"

    _, page = await call(rig, secret, "GET", "/v1/messages?category=survey")
    assert [m["id"] for m in page["items"]] == [survey["id"]]
    _, page = await call(rig, secret, "GET", "/v1/messages?category=care")
    assert [m["id"] for m in page["items"]] == [plain["id"]]
    _, page = await call(rig, secret, "GET", "/v1/messages?category=marketing")
    assert page["items"] == []


async def test_an_unknown_category_is_refused_naming_the_field(make_rig: RigFactory) -> None:
    rig = await make_rig(serve_http=True)
    secret = await token(rig)
    status, error = await call(
        rig,
        secret,
        "POST",
        "/v1/messages",
        json={"to": PATIENT, "body": "Sale!", "category": "promotions"},
    )
    assert status == 400
    assert error["error"]["code"] == "invalid_request"
    assert error["error"]["field"] == "category"
    status, error = await call(
        rig,
        secret,
        "POST",
        "/v1/messages/batch",
        json={
            "messages": [
                {"to": PATIENT, "body": "ok"},
                {"to": PATIENT, "body": "not ok", "category": 7},
            ]
        },
    )
    assert status == 400
    assert error["error"]["field"] == "messages[1].category"
    _, page = await call(rig, secret, "GET", "/v1/messages")
    assert page["items"] == []  # all or nothing


async def test_a_key_default_category_applies_when_a_send_names_none(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(serve_http=True)
    secret = await token(rig, category="reminder")
    _, sent = await call(rig, secret, "POST", "/v1/messages", json={"to": PATIENT, "body": "x"})
    assert sent["category"] == "reminder"
    _, named = await call(
        rig,
        secret,
        "POST",
        "/v1/messages",
        json={"to": PATIENT, "body": "y", "category": "care"},
    )
    assert named["category"] == "care"


async def test_the_document_describes_categories_and_quiet_hours(make_rig: RigFactory) -> None:
    flu = MappingProxyType({**DEFAULT_CATEGORIES, "flu_campaign": CategoryConfig()})
    rig = await make_rig(serve_http=True, categories=flu)
    secret = await token(rig)
    status, document = await call(rig, secret, "GET", "/v1/openapi.json")
    assert status == 200
    schemas = document["components"]["schemas"]
    category = schemas["SendRequest"]["properties"]["category"]
    assert category["type"] == "string"
    assert category["enum"] == sorted(flu)  # this daemon's categories, for clients and fuzzers
    assert "category" not in schemas["SendRequest"]["required"]
    assert "category" in schemas["Message"]["required"]
    waiting = schemas["Message"]["properties"]["waiting"]["properties"]["reason"]["enum"]
    assert "quiet_hours" in waiting
    listing = document["paths"]["/v1/messages"]["get"]["parameters"]
    assert "category" in [p["name"] for p in listing]
