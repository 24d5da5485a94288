"""Secure messages over HTTP: the SMS carries only the link, the public listener serves
only the pages, wrong answers lock, and closed links all look alike."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from gateway.store.secure_records import SECURE_PAGE
from tests.gateway.secure.conftest import BODY, DOB, PATIENT, PDF, SecureRig
from tests.support import poll_until

CLOSED = "This link is not available"


@asynccontextmanager
async def browser_like() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps cookies set by an IP-addressed host (as a browser does)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def page(session: aiohttp.ClientSession, url: str, **form: str) -> tuple[int, str]:
    if form:
        async with session.post(url, data=form) as response:
            return response.status, await response.text()
    async with session.get(url) as response:
        return response.status, await response.text()


async def secure_events(rig: SecureRig, *kinds: str) -> list[dict[str, Any]]:
    """The webhook events of these kinds, once that many have arrived, in order."""

    async def arrived() -> list[dict[str, Any]] | None:
        found = [json.loads(r.body) for r in rig.hooks.ok()]
        found = [e for e in found if e["type"] in kinds]
        return found if len(found) >= len(kinds) else None

    events: list[dict[str, Any]] = await poll_until(arrived, f"events {kinds}", 15.0)
    return events


async def test_the_sms_holds_the_link_and_none_of_the_body(secure_rig: SecureRig) -> None:
    created = await secure_rig.create()
    sms = (await secure_rig.next_sms(1)).submit
    assert sms.recipient == PATIENT
    match = re.fullmatch(r"Maple Street Clinic has a message for you: (\S+)/s/(\S+)", sms.text)
    assert match is not None, sms.text
    assert match.group(1) == secure_rig.public
    token = match.group(2)
    assert len(token) >= 43  # 32 bytes from secrets, base64url: 256 bits
    for word in ("biopsy", "benign", "Quill"):
        assert word not in sms.text
    assert created["state"] in {"queued", "sent"}
    assert created["message_id"] is not None
    # The token exists only as a keyed hash at rest.
    db = (secure_rig.data_dir / "smsgw.db").read_bytes()
    assert token.encode() not in db


async def test_the_sms_text_may_not_carry_the_body(secure_rig: SecureRig) -> None:
    status, error = await secure_rig.call(
        "POST",
        "/v1/secure-messages",
        json={
            "to": PATIENT,
            "text": f"{BODY} {{link}}",
            "body": {"text": BODY},
            "verify": {"method": "code"},
        },
    )
    assert status == 400
    assert error["error"]["field"] == "text"


async def test_attachments_are_checked_by_content_and_size(secure_rig: SecureRig) -> None:
    fake_pdf = {"filename": "result.pdf", "content_base64": "PHNjcmlwdD4="}  # "<script>"
    status, error = await secure_rig.call(
        "POST",
        "/v1/secure-messages",
        json={
            "to": PATIENT,
            "body": {"text": BODY, "attachments": [fake_pdf]},
            "verify": {"method": "code"},
        },
    )
    assert status == 400
    assert error["error"]["code"] == "attachment_type_refused"
    # Nothing was sent.
    assert secure_rig.sim.sent == []


async def test_the_public_listener_serves_only_the_pages(secure_rig: SecureRig) -> None:
    await secure_rig.create()
    link = await secure_rig.link(1)
    async with aiohttp.ClientSession() as session:
        for path in (
            "/v1/messages",
            "/metrics",
            "/",
            "/v1/status",
            "/v1/openapi.json",
            "/healthz",
            "/s/",
        ):
            async with session.get(secure_rig.public + path) as response:
                assert response.status == 404, path
                assert "Not found" in await response.text()
        async with session.get(secure_rig.public + link) as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
            assert response.headers["Referrer-Policy"] == "no-referrer"
            assert response.headers["X-Robots-Tag"].startswith("noindex")
            csp = response.headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp
            assert "script-src" not in csp
            assert '<meta name=robots content="noindex,nofollow">' in await response.text()
        # The link is not valid on the API listener.
        async with session.get(secure_rig.api + link) as response:
            assert response.status in (401, 404)
            assert "Date of birth" not in await response.text()


async def test_five_wrong_answers_lock_and_the_right_one_is_then_refused(
    secure_rig: SecureRig,
) -> None:
    created = await secure_rig.create()
    url = secure_rig.public + await secure_rig.link(1) + "/verify"
    async with browser_like() as session:
        for attempt in range(1, 5):
            status, text = await page(session, url, dob="1990-01-01")
            assert status == 400
            assert f"{5 - attempt} tr" in text
        status, text = await page(session, url, dob="1990-01-02")
        assert CLOSED in text
        status, text = await page(session, url, dob=DOB)
        assert CLOSED in text
        assert BODY not in text
    [locked] = await secure_events(secure_rig, "secure.locked")
    assert locked["data"]["secure_message_id"] == created["id"]
    assert locked["data"]["state"] == "locked"
    _, record = await secure_rig.call("GET", f"/v1/secure-messages/{created['id']}")
    assert record["state"] == "locked"
    assert record["failures"] == 5
    assert record["verified_at"] is None
    # Every attempt is audited with its address, never the content or the answer.
    _, trail = await secure_rig.call("GET", "/v1/audit?limit=100")
    verifies = [e for e in trail["items"] if e["action"] == "secure.verify"]
    assert len(verifies) == 5  # the one after the lock never reached a check
    assert all(e["detail"]["address"] == "127.0.0.1" for e in verifies)
    assert "1990-01-01" not in str(trail)
    assert BODY not in str(trail)


async def test_the_right_date_of_birth_opens_the_content_and_an_answer_joins_the_conversation(
    secure_rig: SecureRig,
) -> None:
    attachment = {"filename": "result.pdf", "content_base64": base64.b64encode(PDF).decode()}
    created = await secure_rig.create(body={"text": BODY, "attachments": [attachment]})
    link = secure_rig.public + await secure_rig.link(1)
    # The patient texts the clinic too: that SMS names the conversation.
    secure_rig.sim.deliver(PATIENT, "Thanks, got the text")

    async def sms_in() -> list[dict[str, object]]:
        _, found = await secure_rig.call("GET", "/v1/inbound")
        return list(found["items"])

    [sms_text] = await poll_until(sms_in, "the patient's SMS", 15.0)
    async with browser_like() as session:
        status, text = await page(session, link + "/verify", dob=DOB)
        assert status == 200
        assert BODY in text
        async with session.get(link + "/files/1?download=1") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/pdf"
            assert response.headers["Content-Disposition"].startswith(
                'attachment; filename="result.pdf"'
            )
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert await response.read() == PDF
        form = re.search(r'name=form value="([^"]+)"', text)
        assert form is not None
        status, text = await page(
            session, link + "/reply", text="Can I come Monday?", form=form.group(1)
        )
        assert "Your answer was sent." in text
    items = await sms_in()
    [answer] = [i for i in items if i["text"] == "Can I come Monday?"]
    assert answer["channel"] == SECURE_PAGE
    assert answer["from"] == PATIENT
    assert answer["conversation_id"] == sms_text["conversation_id"]
    assert sms_text["channel"] == "sms"
    # The staff see it in the patient's thread, after the link's SMS, named by its channel.
    _, thread = await secure_rig.call("GET", f"/v1/conversations/{answer['conversation_id']}")
    channels = {item["id"]: item["channel"] for item in thread["items"]}
    assert channels[answer["id"]] == SECURE_PAGE
    assert channels[sms_text["id"]] == "sms"
    outbound = [item for item in thread["items"] if item["direction"] == "outbound"]
    assert outbound
    assert "has a message for you" in outbound[0]["message"]["body"]
    _, record = await secure_rig.call("GET", f"/v1/secure-messages/{created['id']}")
    assert record["state"] == "answered"
    assert record["opened_at"]
    assert record["verified_at"]
    assert record["read_at"]
    events = await secure_events(secure_rig, "secure.read", "secure.answered")
    assert [e["type"] for e in events] == ["secure.read", "secure.answered"]
    assert events[1]["data"]["inbound_id"] == answer["id"]
    assert events[1]["data"]["conversation_id"] == sms_text["conversation_id"]
    assert all(e["data"]["secure_message_id"] == created["id"] for e in events)
    assert BODY not in json.dumps(events)


async def test_a_reply_without_the_form_token_is_refused(secure_rig: SecureRig) -> None:
    await secure_rig.create()
    link = secure_rig.public + await secure_rig.link(1)
    async with browser_like() as session:
        await page(session, link + "/verify", dob=DOB)
        status, _ = await page(session, link + "/reply", text="forged", form="nope")
        assert status == 403
    _, found = await secure_rig.call("GET", "/v1/inbound")
    assert found["items"] == []


async def test_the_code_method_texts_a_code_that_works_once(secure_rig: SecureRig) -> None:
    await secure_rig.create(verify={"method": "code"})
    link = secure_rig.public + await secure_rig.link(1)
    async with browser_like() as session:
        status, text = await page(session, link)
        assert "Text me a code" in text
        status, text = await page(session, link + "/code", go="1")
        assert "We texted you a code." in text
        code_sms = (await secure_rig.next_sms(2)).submit
        assert code_sms.recipient == PATIENT
        code = re.search(r"\b(\d{6})\b", code_sms.text)
        assert code is not None, code_sms.text
        assert BODY not in code_sms.text
        status, text = await page(session, link + "/verify", code=code.group(1))
        assert BODY in text
    async with browser_like() as other:
        status, text = await page(other, link + "/verify", code=code.group(1))
        assert status == 400
        assert BODY not in text


async def test_expired_revoked_and_unknown_links_show_one_plain_page(
    secure_rig: SecureRig,
) -> None:
    await secure_rig.create(expires_in=600)
    expiring = secure_rig.public + await secure_rig.link(1)
    revoked = await secure_rig.create()
    revoked_link = secure_rig.public + await secure_rig.link(2)
    status, record = await secure_rig.call("DELETE", f"/v1/secure-messages/{revoked['id']}")
    assert status == 200
    assert record["state"] == "revoked"
    assert record["content_erased"]
    secure_rig.clock.set(secure_rig.clock() + 601)
    bodies = []
    async with browser_like() as session:
        for url in (expiring, revoked_link, secure_rig.public + "/s/" + "A" * 43):
            status, text = await page(session, url)
            assert status == 404
            assert CLOSED in text
            assert "tel:+15550102000" in text
            bodies.append(text)
    assert len(set(bodies)) == 1


async def test_expired_content_is_gone_from_the_database_file(secure_rig: SecureRig) -> None:
    created = await secure_rig.create(expires_in=600)
    db = secure_rig.data_dir / "smsgw.db"
    with sqlite3.connect(db) as conn:
        (sealed,) = conn.execute(
            "SELECT text_enc FROM secure_messages WHERE id = ?", (created["id"],)
        ).fetchone()
    assert sealed is not None
    assert len(sealed) > 40
    files = (db, db.with_name("smsgw.db-wal"))
    assert any(sealed in f.read_bytes() for f in files if f.exists())
    # A step past the expiry that the clock guard cannot explain holds the erasure...
    guard = secure_rig.daemon.clock_guard
    held_before = guard.held
    secure_rig.clock.set(secure_rig.clock() + 601)

    async def held() -> bool:
        return guard.held > held_before + 2

    await poll_until(held, "the erasure held", 15.0)
    _, record = await secure_rig.call("GET", f"/v1/secure-messages/{created['id']}")
    assert not record["content_erased"]
    # ...until a person confirms the clock.
    guard.confirm()

    async def erased() -> bool:
        _, record = await secure_rig.call("GET", f"/v1/secure-messages/{created['id']}")
        return bool(record["content_erased"])

    await poll_until(erased, "the content erased", 15.0)

    # The row reads erased once its transaction commits; the log is checkpointed and
    # truncated just after, in the same erasure: wait for the bytes themselves.
    async def gone_from_the_files() -> bool:
        raws = [f.read_bytes() for f in files if f.exists()]
        return not any(sealed in raw or BODY.encode() in raw for raw in raws)

    await poll_until(gone_from_the_files, "the sealed content gone from the db and its log", 15.0)
    _, record = await secure_rig.call("GET", f"/v1/secure-messages/{created['id']}")
    assert record["state"] == "expired"


async def test_an_opted_out_patient_gets_no_link_and_nothing_is_kept(
    secure_rig: SecureRig,
) -> None:
    await secure_rig.daemon.store.add_suppression(PATIENT, None, source="api", reason=None)
    status, error = await secure_rig.call(
        "POST",
        "/v1/secure-messages",
        json={"to": PATIENT, "body": {"text": BODY}, "verify": {"method": "code"}},
    )
    assert status == 422
    assert error["error"]["code"] == "opted_out"
    with sqlite3.connect(secure_rig.data_dir / "smsgw.db") as conn:
        assert conn.execute("SELECT count(*) FROM secure_messages").fetchone() == (0,)
    assert secure_rig.sim.sent == []
