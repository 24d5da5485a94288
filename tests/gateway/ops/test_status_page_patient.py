"""The status page's "text in as a patient" form on the running demo (simulated modems),
in headless Chromium under the page's strict Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import expect

from tests.e2e.demo_proc import running_demo
from tests.gateway.ops.browser import needs_chromium, open_page
from tests.support import poll_until

PATIENT = "+15557654321"


@pytest.mark.timeout(180)  # the demo's start and Chromium's, on a machine that may be shared
@needs_chromium
async def test_the_form_texts_a_simulated_modem(tmp_path: Path) -> None:
    async with running_demo(tmp_path) as demo, open_page(demo.url) as (page, log):
        await page.goto("/?poll_ms=500")
        await page.get_by_label("Admin API key").fill(demo.token)
        await page.get_by_role("button", name="Use key").click()
        await expect(page.locator("#patient-section")).to_be_visible()
        modem = page.get_by_label("Simulated modem")
        await expect(modem.locator("option")).to_have_text(["sim-quectel", "sim-simcom"])
        await modem.select_option("sim-simcom")
        await page.get_by_label("From (the patient's number)").fill(PATIENT)
        await page.get_by_label("Patient's text").fill("YES see you then")
        await page.get_by_role("button", name="Text in").click()
        await expect(page.locator("#patient-status")).to_have_text(
            "Texted sim-simcom; the text shows in GET /v1/inbound."
        )

        async def arrived() -> bool:
            headers = {"Authorization": f"Bearer {demo.token}"}
            url = f"{demo.url}/v1/inbound"
            async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as r:
                items = (await r.json())["items"]
            return any(
                i["from"] == PATIENT
                and i["text"] == "YES see you then"
                and i["modem"] == "sim-simcom"
                for i in items
            )

        await poll_until(arrived, "the patient's text in GET /v1/inbound", 30.0)
        await page.get_by_label("Simulated modem").select_option("sim-quectel")
        await page.get_by_label("From (the patient's number)").fill("not a number")
        await page.get_by_role("button", name="Text in").click()
        await expect(page.locator("#patient-status")).to_contain_text("Not texted:")
        assert [e for e in log.errors if "status of 400" not in e] == []
