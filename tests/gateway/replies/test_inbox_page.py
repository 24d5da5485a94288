"""The staff inbox at /inbox: served under the status page's strict policy, and used in
headless Chromium against a daemon with a simulated modem, answering a patient whose
modem then receives the text."""

from __future__ import annotations

import re
import time

from playwright.async_api import ViewportSize, expect

from gateway.http.inbox_page import ASSETS, PAGE_FILE
from gateway.http.status_page import CONTENT_SECURITY_POLICY, STATIC_DIR
from gateway.redact import redact_number
from gateway.store.base import Scope, Template
from tests.gateway.consent.test_opt_out import api_for, wait_texts
from tests.gateway.integrations.conftest import GatewayFactory
from tests.gateway.ops.browser import needs_chromium, open_page
from tests.gateway.ops.fakes import ARTIFACTS
from tests.gateway.replies.test_conversations import OTHER, text_from
from tests.gateway.replies.test_expected_replies import PATIENT, reminder, text_in

LAPTOP = ViewportSize(width=1366, height=768)


async def test_the_page_and_its_assets_carry_the_strict_policy(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway()
    async with api_for(gw, Scope.READ) as api:
        for path, kind in (("/inbox", "text/html"), ("/inbox/inbox.js", "text/javascript"),
                           ("/inbox/inbox.css", "text/css")):  # fmt: skip
            async with api.http.get(api.url + path) as response:
                assert response.status == 200, path
                assert response.content_type == kind
                assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
                assert response.headers["X-Content-Type-Options"] == "nosniff"
        for path in ("/inbox/inbox.html", "/inbox/..%2Fapp.js", "/inbox/nothing.js"):
            async with api.http.get(api.url + path) as response:
                assert response.status == 404, path


def test_the_page_has_no_inline_code_and_writes_data_as_text() -> None:
    html = (STATIC_DIR / PAGE_FILE).read_text()
    assert re.findall(r"<script\b[^>]*>", html) == ['<script src="/inbox/inbox.js" defer>']
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert not re.search(r"\sstyle\s*=", html)
    assert 'aria-live="polite"' in html
    assert 'role="alert"' in html
    for name in ASSETS:
        assert (STATIC_DIR / name).is_file()
    script = (STATIC_DIR / "inbox.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink


@needs_chromium
async def test_staff_answer_a_patient_from_the_browser(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    now = time.time()
    await gw.daemon.store.add_template(
        Template("see-you", "care", "Hi {name|first}, see you on {day}.", None, now, now)
    )
    async with api_for(gw, Scope.SEND, Scope.READ) as api:
        await reminder(api, "Visit Tuesday. Reply C to confirm, R to reschedule")
        await text_in(gw, "C")
        await text_in(gw, "Can I bring my son?")
        status, other = await api.send(OTHER, "Your results are ready")
        assert status == 202, other
        await text_from(gw, OTHER, "STOP")
        token = api.token

    async with open_page(gw.url) as (page, log):
        await page.set_viewport_size(LAPTOP)
        await page.goto("/inbox?poll_ms=300")
        await page.get_by_label("Staff API key").fill(token)
        await page.get_by_role("button", name="Use key").click()

        listed = page.locator("#conversation-list button")
        await expect(listed).to_have_count(2)
        patient = listed.filter(has_text=redact_number(PATIENT))
        await expect(patient).to_contain_text("2 unread")
        await expect(listed.filter(has_text=redact_number(OTHER))).to_contain_text("opted out")
        assert PATIENT not in await page.locator("#list-pane").inner_text()

        await patient.click()
        heading = page.get_by_role("heading", name=f"Conversation with {PATIENT}")
        await expect(heading).to_be_focused()
        items = page.locator("#thread-items li")
        await expect(items).to_have_count(3)
        await expect(items.nth(0)).to_contain_text("Patient answered: confirmed")
        await expect(items.nth(1)).to_contain_text("Matched reply: confirmed")
        await expect(items.nth(2)).to_contain_text("Can I bring my son?")
        await expect(patient).not_to_contain_text("unread")  # opening it marked it read

        await page.get_by_label("Reply text").fill("Yes, bring him along")
        preview = page.locator("#reply-preview")
        await expect(preview).to_have_text(
            "GSM-7: 1 segment, 20 characters (160 a segment, 140 left in the last)."
        )
        await page.get_by_role("button", name="Send reply").click()
        await expect(page.locator("#reply-status")).to_contain_text("Queued as msg_")
        await expect(items).to_have_count(4)

        await page.get_by_label("A template").check()
        await page.get_by_label("Template", exact=True).select_option("see-you")
        await page.get_by_label("Variable name").fill("Ada Lovelace")
        await expect(preview).to_contain_text("Fill in every variable")
        await page.get_by_label("Variable day").fill("Tuesday")
        await expect(preview).to_have_text(
            "GSM-7: 1 segment, 27 characters (160 a segment, 133 left in the last)."
        )
        await page.get_by_role("button", name="Send reply").click()
        await expect(items).to_have_count(5)
        await expect(items.nth(4)).to_contain_text("Hi Ada, see you on Tuesday.")

        gw.sims["alpha"].deliver(PATIENT, "Thanks!")
        await expect(items).to_have_count(6)
        await expect(page.locator("#announcer")).to_have_text("New text from the patient: Thanks!")
        width = await page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= LAPTOP["width"]  # nothing spills sideways on a laptop screen
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "inbox-1366.png"))
        assert [e for e in log.errors if "status of 400" not in e] == []

    texts = await wait_texts(gw, PATIENT, 3)
    assert [text for _, text in texts][1:] == [
        "Yes, bring him along",
        "Hi Ada, see you on Tuesday.",
    ]
