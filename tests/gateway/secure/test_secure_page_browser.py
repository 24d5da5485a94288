"""The patient's secure-message page in headless Chromium at a phone's viewport, with
JavaScript off, against a real daemon on simulated modems."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.gateway.ops.browser import PageLog, needs_chromium, open_page
from tests.gateway.secure.conftest import BODY, DOB, PATIENT, PNG, SecureRig
from tests.support import poll_until

PHONE: dict[str, Any] = {"width": 390, "height": 844, "is_mobile": True, "has_touch": True}
CLOSED = "This link is not available"
pytestmark = [needs_chromium, pytest.mark.timeout(120)]


async def fits_the_phone(page: Page, log: PageLog, *, closed: bool = False) -> None:
    """Styled from its own stylesheet, no sideways scrolling, nothing the page's policy
    refused (a closed link's page answers 404 itself, and a wrong answer 400, which
    Chromium logs)."""
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(244, 246, 248)"
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    expected = ["status of 404", "status of 400"] if closed else []
    assert [e for e in log.errors if not any(x in e for x in expected)] == []


async def test_five_wrong_dates_lock_and_the_right_one_is_then_refused(
    secure_rig: SecureRig,
) -> None:
    await secure_rig.create()
    link = await secure_rig.link(1)
    async with open_page(secure_rig.public, java_script_enabled=False, **PHONE) as (page, log):
        await page.goto(link)
        await expect(page.get_by_role("heading")).to_have_text(
            "Maple Street Clinic has a message for you"
        )
        for attempt in range(1, 5):
            await page.get_by_label("Date of birth").fill("1990-01-01")
            await page.get_by_role("button", name="Continue").click()
            await expect(page.get_by_role("alert")).to_contain_text(f"{5 - attempt} tr")
        await page.get_by_label("Date of birth").fill("1990-01-02")
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_role("heading")).to_have_text(CLOSED)
        await page.goto(link)
        await expect(page.get_by_role("heading")).to_have_text(CLOSED)
        await expect(page.get_by_role("link", name="+1 555 010 2000")).to_be_visible()
        assert BODY not in await page.content()
        await fits_the_phone(page, log, closed=True)


async def test_the_right_date_shows_text_and_attachment_and_the_answer_arrives(
    secure_rig: SecureRig,
) -> None:
    scan = {"filename": "scan.png", "content_base64": base64.b64encode(PNG).decode()}
    await secure_rig.create(body={"text": BODY, "attachments": [scan]})
    link = await secure_rig.link(1)
    secure_rig.sim.deliver(PATIENT, "See you Friday")

    async def inbound() -> list[dict[str, Any]]:
        _, found = await secure_rig.call("GET", "/v1/inbound")
        return list(found["items"])

    [sms_text] = await poll_until(inbound, "the patient's SMS text", 15.0)
    async with open_page(secure_rig.public, java_script_enabled=False, **PHONE) as (page, log):
        await page.goto(link)
        await page.get_by_label("Date of birth").fill(DOB)
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_text(BODY)).to_be_visible()
        image = page.get_by_role("img", name="scan.png")
        await expect(image).to_be_visible()
        assert await image.evaluate("img => img.naturalWidth") == 1
        await expect(page.get_by_role("link", name="scan.png")).to_be_visible()
        await fits_the_phone(page, log)
        await page.get_by_label("Your answer").fill("Can I bring my wife?")
        await page.get_by_role("button", name="Send answer").click()
        await expect(page.get_by_role("status")).to_have_text("Your answer was sent.")

    async def answered() -> list[dict[str, Any]]:
        return [i for i in await inbound() if i["text"] == "Can I bring my wife?"]

    [answer] = await poll_until(answered, "the answer in GET /v1/inbound", 15.0)
    assert answer["channel"] == "secure_page"
    assert answer["conversation_id"] == sms_text["conversation_id"]


async def test_the_code_method_texts_a_code_that_is_accepted_once(secure_rig: SecureRig) -> None:
    await secure_rig.create(verify={"method": "code"})
    link = await secure_rig.link(1)
    async with open_page(secure_rig.public, java_script_enabled=False, **PHONE) as (page, log):
        await page.goto(link)
        await page.get_by_role("button", name="Text me a code").click()
        await expect(page.get_by_role("status")).to_have_text("We texted you a code.")
        code_text = (await secure_rig.next_sms(2)).submit.text
        code = next(word for word in code_text.replace(".", " ").split() if word.isdigit())
        assert len(code) == 6
        await page.get_by_label("Code from the text").fill(code)
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_text(BODY)).to_be_visible()
        await fits_the_phone(page, log)
    async with open_page(secure_rig.public, java_script_enabled=False, **PHONE) as (page, _):
        await page.goto(link)
        await page.get_by_role("button", name="Text me a code").click()
        await page.get_by_label("Code from the text").fill(code)  # the used one
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_role("alert")).to_contain_text("did not match")
        assert BODY not in await page.content()


async def test_an_expired_link_shows_the_plain_page(secure_rig: SecureRig) -> None:
    await secure_rig.create(expires_in=120)
    link = await secure_rig.link(1)
    secure_rig.clock.set(secure_rig.clock() + 121)
    async with open_page(secure_rig.public, java_script_enabled=False, **PHONE) as (page, log):
        response = await page.goto(link)
        assert response is not None
        assert response.status == 404
        await expect(page.get_by_role("heading")).to_have_text(CLOSED)
        await expect(page.get_by_text("It has expired or can no longer be used.")).to_be_visible()
        await fits_the_phone(page, log, closed=True)
