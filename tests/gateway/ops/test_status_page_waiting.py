"""The status page says why the queue waits, fits a 1,280-pixel screen, and offers the
patient form only where a modem is simulated (headless Chromium, stand-in service)."""

from __future__ import annotations

import time

from playwright.async_api import expect

from gateway.core.waiting import Waiting, WaitReason
from tests.gateway.ops.browser import needs_chromium, open_page
from tests.gateway.ops.fakes import ADMIN_TOKEN, ARTIFACTS, Served, modem_status

LAPTOP_WIDTH = 1280


@needs_chromium
async def test_the_page_says_why_messages_and_modems_wait_and_fits_1280(served: Served) -> None:
    until = time.time() + 3 * 3600
    service = served.service
    service.statuses["front-desk"] = modem_status(
        "front-desk",
        waiting=Waiting(WaitReason.DAILY_CAP, "front-desk", until),
        last_error="cms_38_network_out_of_order_while_sending_long_error",
    )
    service.statuses["back-office"] = modem_status(
        "back-office",
        "down",
        reason="sim_fault: +CMS ERROR: 10 (call barred)",
        waiting=Waiting(WaitReason.MODEM_HELD, "back-office", until),
    )
    served.metrics.watch_waiting({WaitReason.DAILY_CAP: 2, WaitReason.RATE_WINDOW: 1})
    async with open_page(served.url, width=LAPTOP_WIDTH) as (page, log):
        await page.goto("/?poll_ms=250")
        await page.get_by_label("Admin API key").fill(ADMIN_TOKEN)
        await page.get_by_role("button", name="Use key").click()

        front = page.locator('tr[data-modem="front-desk"]')
        back = page.locator('tr[data-modem="back-office"]')
        await expect(front.locator("[data-role=waiting]")).to_contain_text("daily cap reached")
        await expect(front.locator("[data-role=waiting]")).to_contain_text("until")
        await expect(back.locator("[data-role=waiting]")).to_contain_text("held out")
        await expect(back).to_contain_text("call barred")
        waits = page.locator("#queue-waiting")
        await expect(waits).to_contain_text("2 for a daily cap")
        await expect(waits).to_contain_text("1 for a rate window")
        await expect(page.locator("#patient-section")).to_be_hidden()

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "status-page-1280.png"), full_page=True)
        table = await page.locator("#modems").bounding_box()
        reset = await page.get_by_role("button", name="Reset modem back-office").bounding_box()
        assert table is not None
        assert reset is not None
        assert table["x"] + table["width"] <= LAPTOP_WIDTH, table
        assert reset["x"] + reset["width"] <= LAPTOP_WIDTH, reset
        scroll = await page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= LAPTOP_WIDTH
        assert log.errors == []
    inbound = "/v1/simulated-modems/front-desk/inbound"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with served.session.post(served.url + inbound, json={}, headers=headers) as r:
        assert r.status == 404  # no simulated modem: no way to text in
    assert (await served.get("/v1/simulated-modems"))[2] == '{"modems":[]}'
