"""The status page's test form previews the cost live, from the server's estimate, under
the page's strict Content-Security-Policy; the send then matches the preview."""

from __future__ import annotations

from playwright.async_api import expect

from gateway.config import RouteConfig
from tests.gateway.ops.browser import needs_chromium, open_page
from tests.gateway.runtime.clinic import token
from tests.gateway.runtime.conftest import RigFactory, poll_until
from tests.gateway.runtime.test_estimate_api import SPAIN, SPANISH


@needs_chromium
async def test_the_test_form_previews_what_the_send_uses(make_rig: RigFactory) -> None:
    rig = await make_rig(
        serve_http=True,
        routes=[RouteConfig(name="es", prefixes=("+34",), national_language="es")],
    )
    secret = await token(rig)
    assert rig.daemon.api_url is not None
    async with open_page(rig.daemon.api_url) as (page, log):
        await page.goto("/")
        await page.get_by_label("Admin API key").fill(secret)
        await page.get_by_role("button", name="Use key").click()
        preview = page.locator("#test-preview")
        await expect(preview).to_have_text(
            "GSM-7: 1 segment, 18 characters (160 a segment, 142 left in the last)."
        )
        await page.get_by_label("Text", exact=True).fill(SPANISH)
        await expect(preview).to_have_text(
            "UCS-2: 3 segments, 145 characters (67 a segment, 56 left in the last). "
            "UCS-2 because of: í Í ú"
        )
        await page.get_by_label("To (phone number)").fill(SPAIN)
        await expect(preview).to_have_text(
            "GSM-7 (es table): 1 segment, 149 characters (155 a segment, 6 left in the last)."
        )
        await page.get_by_role("button", name="Send test message").click()
        await expect(page.locator("#test-status")).to_contain_text("Queued as msg_")
        assert log.errors == []

    async def sent() -> list[str] | None:
        parts = [s.submit for s in rig.sims["alpha"].sent if s.submit.recipient == SPAIN]
        return [p.encoding.value for p in parts] or None

    assert await poll_until(sent, "the test message at the modem") == ["gsm7"]
