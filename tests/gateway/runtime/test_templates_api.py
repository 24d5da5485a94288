"""Templates over HTTP: stored sealed, checked when written, rendered into single and
batch sends (their rendered size is what counts), audited, and kept to admin keys."""

from __future__ import annotations

import sqlite3
from typing import Any

import aiohttp

from gateway.store.base import MessageState, Scope
from tests.gateway.runtime.clinic import PATIENT, call, token
from tests.gateway.runtime.conftest import Rig, RigFactory

REMINDER = {
    "name": "reminder-es",
    "category": "reminder",
    "body": "Hola {patient|first}, su cita en la Clínica es el {when|date} a las {when|time}. "
    "Responda C para confirmar.",
    "replies": {"C": "confirmed", "R": "reschedule"},
}
WHEN = "2026-12-08T09:30:00"
VARIABLES = {"patient": "María López", "when": WHEN}
RENDERED = (
    "Hola María, su cita en la Clínica es el 08/12/2026 a las 09:30. Responda C para confirmar."
)


async def _delete(rig: Rig, secret: str, path: str) -> int:
    """DELETE's status: a 204 has no JSON body for ``call`` to read."""
    assert rig.daemon.api_url is not None
    headers = {"Authorization": f"Bearer {secret}"}
    async with (
        aiohttp.ClientSession() as session,
        session.delete(rig.daemon.api_url + path, headers=headers) as response,
    ):
        return response.status


async def _key(rig: Rig, *scopes: Scope) -> str:
    _, secret = await rig.daemon.store.create_api_key("templates-test", frozenset(scopes))
    return secret


async def test_a_template_is_stored_sealed_read_replaced_and_deleted(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(serve_http=True)
    admin = await token(rig)
    status, made = await call(rig, admin, "POST", "/v1/templates", json=REMINDER)
    assert status == 201, made
    assert made["variables"] == ["patient", "when"]
    assert made["replies"] == REMINDER["replies"]
    assert made["category"] == "reminder"

    status, again = await call(rig, admin, "POST", "/v1/templates", json=REMINDER)
    assert (status, again["error"]["code"]) == (409, "conflict")

    sender = await _key(rig, Scope.SEND)
    status, listed = await call(rig, sender, "GET", "/v1/templates")
    assert status == 200
    assert [t["name"] for t in listed["items"]] == ["reminder-es"]
    _, one = await call(rig, sender, "GET", "/v1/templates/reminder-es")
    assert one["body"] == REMINDER["body"]

    # At rest the body is sealed: the clinic's text is nowhere in the file in clear.
    path = rig.daemon.config.store.data_dir
    for db in path.glob("*.db*"):
        assert "Clínica".encode() not in db.read_bytes()
    with sqlite3.connect(next(path.glob("*.db"))) as raw:
        assert raw.execute("SELECT count(*) FROM templates").fetchone() == (1,)

    status, replaced = await call(
        rig, admin, "PUT", "/v1/templates/reminder-es", json={"body": "Hi {patient}"}
    )
    assert status == 200
    assert (replaced["body"], replaced["category"], replaced["replies"]) == (
        "Hi {patient}",
        "care",
        None,
    )
    assert replaced["created_at"] == made["created_at"]
    status, _ = await call(rig, admin, "PUT", "/v1/templates/nope", json={"body": "x"})
    assert status == 404

    assert await _delete(rig, admin, "/v1/templates/reminder-es") == 204
    status, _ = await call(rig, sender, "GET", "/v1/templates/reminder-es")
    assert status == 404
    assert await _delete(rig, admin, "/v1/templates/reminder-es") == 404

    page = await rig.daemon.store.list_audit(cursor=None, limit=50)
    actions = [(e.action, e.subject) for e in page.items if e.action.startswith("template.")]
    assert actions == [
        ("template.delete", "reminder-es"),
        ("template.replace", "reminder-es"),
        ("template.create", "reminder-es"),
    ]


async def test_changing_templates_needs_admin_and_reading_them_needs_send(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(serve_http=True)
    sender = await _key(rig, Scope.SEND)
    reader = await _key(rig, Scope.READ)
    status, _ = await call(rig, sender, "POST", "/v1/templates", json=REMINDER)
    assert status == 403
    status, _ = await call(rig, reader, "GET", "/v1/templates")
    assert status == 403
    status, _ = await call(rig, sender, "POST", "/v1/messages/estimate", json={"body": "x"})
    assert status == 200


async def test_a_broken_template_is_refused_naming_the_problem(make_rig: RigFactory) -> None:
    rig = await make_rig(serve_http=True)
    admin = await token(rig)
    cases: list[tuple[dict[str, Any], str, str, str]] = [
        ({"body": "Hola {name"}, "template_invalid", "body", "'{' at position 5 is not closed"),
        ({"body": "Hola name}"}, "template_invalid", "body", "'}' at position 9 closes nothing"),
        ({"body": "Hola {name|shout}"}, "template_invalid", "body", "unknown filter 'shout'"),
        ({"body": "Hola {1st}"}, "template_invalid", "body", "bad variable name"),
        (
            {"body": "Hola", "category": "promotions"},
            "invalid_request",
            "category",
            "not configured",
        ),
        ({"body": "Hola", "replies": {"C": 3}}, "invalid_request", "replies.C", "meaning"),
        ({"body": "Hola", "colour": "red"}, "invalid_request", "colour", "unknown field"),
    ]
    for extra, code, field, words in cases:
        status, error = await call(rig, admin, "POST", "/v1/templates", json={"name": "t", **extra})
        assert status == 400, extra
        assert (error["error"]["code"], error["error"]["field"]) == (code, field), extra
        assert words in error["error"]["message"], error
    status, error = await call(
        rig, admin, "POST", "/v1/templates", json={"name": "no spaces", "body": "x"}
    )
    assert (status, error["error"]["field"]) == (400, "name")
    _, listed = await call(rig, admin, "GET", "/v1/templates")
    assert listed["items"] == []


async def test_sends_render_the_template_and_count_the_rendered_text(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(serve_http=True)
    admin = await token(rig)
    await call(rig, admin, "POST", "/v1/templates", json=REMINDER)
    send = {"to": PATIENT, "template": "reminder-es", "variables": VARIABLES}

    _, estimate = await call(rig, admin, "POST", "/v1/messages/estimate", json=send)
    assert (estimate["encoding"], estimate["characters"]) == ("ucs2", len(RENDERED))

    status, single = await call(rig, admin, "POST", "/v1/messages", json=send)
    assert status == 202, single
    assert single["body"] == RENDERED
    assert single["category"] == "reminder"  # the template's
    assert (single["encoding"], single["segment_count"]) == (
        estimate["encoding"],
        estimate["segment_count"],
    )

    status, batch = await call(
        rig,
        admin,
        "POST",
        "/v1/messages/batch",
        json={
            "messages": [
                {"to": PATIENT, "body": "plain text"},
                {**send, "variables": {"patient": "Ana", "when": "2026-12-09 16:05"}},
                {**send, "category": "care"},
            ]
        },
    )
    assert status == 202, batch
    second = await rig.message(batch["messages"][1]["id"])
    assert second.body.startswith("Hola Ana, su cita en la Clínica es el 09/12/2026 a las 16:05.")
    third = await rig.message(batch["messages"][2]["id"])
    assert third.category == "care"  # a send's own category wins
    await rig.wait_state(single["id"], MessageState.DELIVERED)
    received = [s.submit.text for s in rig.sims["alpha"].sent if s.submit.recipient == PATIENT]
    assert "".join(received).startswith(RENDERED)


async def test_a_missing_variable_is_named_and_nothing_is_sent(make_rig: RigFactory) -> None:
    rig = await make_rig(serve_http=True)
    admin = await token(rig)
    await call(rig, admin, "POST", "/v1/templates", json=REMINDER)
    status, error = await call(
        rig,
        admin,
        "POST",
        "/v1/messages",
        json={"to": PATIENT, "template": "reminder-es", "variables": {"patient": "Ana"}},
    )
    assert status == 400
    assert error["error"]["code"] == "template_variable_missing"
    assert error["error"]["field"] == "variables.when"
    assert "'when'" in error["error"]["message"]

    status, error = await call(
        rig,
        admin,
        "POST",
        "/v1/messages/batch",
        json={
            "messages": [
                {"to": PATIENT, "template": "reminder-es", "variables": VARIABLES},
                {"to": PATIENT, "template": "reminder-es"},
            ]
        },
    )
    assert (status, error["error"]["code"]) == (400, "template_variable_missing")
    assert error["error"]["field"] == "messages[1].variables.patient"

    for payload, field in [
        ({"to": PATIENT, "template": "absent"}, "template"),
        ({"to": PATIENT, "template": "reminder-es", "body": "x", "variables": VARIABLES}, "body"),
        (
            {"to": PATIENT, "template": "reminder-es", "variables": {**VARIABLES, "when": "soon"}},
            "variables.when",
        ),
    ]:
        status, error = await call(rig, admin, "POST", "/v1/messages", json=payload)
        assert (status, error["error"]["field"]) == (400, field), error
    _, page = await call(rig, admin, "GET", "/v1/messages")
    assert page["items"] == []


async def test_a_templated_send_expects_the_templates_replies(make_rig: RigFactory) -> None:
    rig = await make_rig(serve_http=True)
    admin = await token(rig)
    status, made = await call(rig, admin, "POST", "/v1/templates", json=REMINDER)
    assert status == 201, made
    send = {"to": PATIENT, "template": "reminder-es", "variables": VARIABLES}
    status, sent = await call(rig, admin, "POST", "/v1/messages", json=send)
    assert status == 202, sent
    _, shown = await call(rig, admin, "GET", f"/v1/messages/{sent['id']}")
    assert shown["replies"] == REMINDER["replies"]
    own = {**send, "replies": {"Y": "confirmed"}}  # a send's own replies win
    status, sent = await call(rig, admin, "POST", "/v1/messages", json=own)
    assert status == 202, sent
    _, shown = await call(rig, admin, "GET", f"/v1/messages/{sent['id']}")
    assert shown["replies"] == {"Y": "confirmed"}
