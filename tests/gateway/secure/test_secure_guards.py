"""What guards a secure message besides its token: failures per address, the session
cookie's scope, one client's messages apart from another's, and an audit trail of every
patient action with the address and never the content."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from gateway.store.base import Scope
from tests.gateway.secure.conftest import ADDRESS_FAILURES, BODY, DOB, SecureRig
from tests.gateway.secure.test_secure_links import browser_like, page

WRONG = "1990-01-01"


async def test_wrong_answers_are_counted_per_address_across_messages(
    secure_rig: SecureRig,
) -> None:
    await secure_rig.create()
    first = secure_rig.public + await secure_rig.link(1)
    await secure_rig.create()
    second = secure_rig.public + await secure_rig.link(2)
    proxied = {"X-Forwarded-For": "203.0.113.9"}  # a patient behind the proxy on this host
    async with aiohttp.ClientSession(headers=proxied) as session:
        for _ in range(5):
            await page(session, first + "/verify", dob=WRONG)  # locks the first
        for _ in range(ADDRESS_FAILURES - 5):
            status, _text = await page(session, second + "/verify", dob=WRONG)
            assert status == 400
        status, text = await page(session, second + "/verify", dob=DOB)
        assert status == 429
        assert BODY not in text
    # Another address still gets in with the right answer.
    async with browser_like() as other:
        other.headers.update({"X-Forwarded-For": "198.51.100.4"})
        status, text = await page(other, second + "/verify", dob=DOB)
        assert status == 200
        assert BODY in text


async def test_the_session_cookie_is_scoped_to_its_link(secure_rig: SecureRig) -> None:
    await secure_rig.create()
    link = await secure_rig.link(1)
    await secure_rig.create()
    other_link = await secure_rig.link(2)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            secure_rig.public + link + "/verify", data={"dob": DOB}, allow_redirects=False
        ) as response:
            assert response.status == 303
            assert response.headers["Location"] == link
            cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert f"Path={link}" in cookie
        assert "Max-Age=900" in cookie
        assert "Secure" not in cookie  # plain http on loopback here; https sets it
        value = cookie.split(";")[0]
        # The same cookie opens nothing under another link.
        async with session.get(
            secure_rig.public + other_link, headers={"Cookie": value}
        ) as response:
            text = await response.text()
            assert "Date of birth" in text
            assert BODY not in text


async def test_a_client_sees_and_revokes_only_its_own(secure_rig: SecureRig) -> None:
    created = await secure_rig.create()
    store = secure_rig.daemon.store
    _, stranger = await store.create_api_key("other", frozenset({Scope.SEND, Scope.READ}))
    headers = {"Authorization": f"Bearer {stranger}"}
    path = f"{secure_rig.api}/v1/secure-messages/{created['id']}"
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(path) as response:
            assert response.status == 404
        async with session.delete(path) as response:
            assert response.status == 404
    status, record = await secure_rig.call("GET", f"/v1/secure-messages/{created['id']}")
    assert status == 200
    assert record["revoked_at"] is None


async def test_opens_attempts_reads_and_revocations_are_audited_without_content(
    secure_rig: SecureRig,
) -> None:
    created = await secure_rig.create()
    link = secure_rig.public + await secure_rig.link(1)
    async with browser_like() as session:
        await page(session, link)
        await page(session, link + "/verify", dob=WRONG)
        await page(session, link + "/verify", dob=DOB)  # and the content page it leads to
    status, _ = await secure_rig.call("DELETE", f"/v1/secure-messages/{created['id']}")
    assert status == 200
    _, trail = await secure_rig.call("GET", "/v1/audit?limit=100")
    mine = [e for e in trail["items"] if e["subject"] == created["id"]]
    actions = sorted(e["action"] for e in mine)
    assert actions == sorted(
        [
            "secure.create",
            "secure.open",
            "secure.verify",
            "secure.verify",
            "secure.open",
            "secure.read",
            "secure.revoke",
        ]
    )
    patient = [e for e in mine if e["actor"] == "patient"]
    assert {e["detail"]["address"] for e in patient} == {"127.0.0.1"}
    revoke = next(e for e in mine if e["action"] == "secure.revoke")
    assert revoke["actor"] != "patient"
    text = str(trail)
    assert BODY not in text
    assert DOB not in text
    assert WRONG not in text


async def test_a_post_from_another_site_is_refused(secure_rig: SecureRig) -> None:
    created = await secure_rig.create()
    link = secure_rig.public + await secure_rig.link(1)
    cross = {"Sec-Fetch-Site": "cross-site"}
    async with (
        aiohttp.ClientSession(headers=cross) as session,
        session.post(link + "/verify", data={"dob": WRONG}) as response,
    ):
        assert response.status == 403
    _, record = await secure_rig.call("GET", f"/v1/secure-messages/{created['id']}")
    assert record["failures"] == 0  # never reached a check


async def test_codes_for_one_message_are_limited(secure_rig: SecureRig) -> None:
    await secure_rig.create(verify={"method": "code"})
    link = secure_rig.public + await secure_rig.link(1)
    limit = secure_rig.daemon.secure.settings.codes_per_window
    async with aiohttp.ClientSession() as session:
        for _ in range(limit):
            status, text = await page(session, link + "/code", go="1")
            assert status == 200
            assert "We texted you a code." in text
        status, text = await page(session, link + "/code", go="1")
        assert status == 429
    await secure_rig.next_sms(1 + limit)
    assert len(secure_rig.sim.sent) == 1 + limit


async def test_no_token_reaches_the_logs(
    secure_rig: SecureRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await secure_rig.create()
    link = await secure_rig.link(1)
    token = link.rsplit("/", 1)[1]
    async with browser_like() as session:
        await page(session, secure_rig.public + link)
        await page(session, secure_rig.public + link + "/verify", dob=WRONG)
        await page(session, secure_rig.public + link + "/verify", dob=DOB)
        await page(session, secure_rig.public + link + "/files/9")
    routes = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any('"POST /s/{token}/verify" 400' in line for line in routes), routes
    logged = caplog.text
    assert token not in logged
    assert token[:12] not in logged
    assert BODY not in logged
    assert DOB not in logged


async def test_a_gateway_that_takes_no_work_answers_a_plain_503_page(
    secure_rig: SecureRig,
) -> None:
    await secure_rig.create(verify={"method": "code"})
    link = secure_rig.public + await secure_rig.link(1)
    secure_rig.daemon.gateway.close()  # as at the start of a stop: no new sends
    async with (
        aiohttp.ClientSession() as session,
        session.post(link + "/code", data={"go": "1"}) as response,
    ):
        assert response.status == 503
        assert response.headers["Cache-Control"] == "no-store"
        assert "Please try again later" in await response.text()
