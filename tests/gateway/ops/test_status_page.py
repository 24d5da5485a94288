"""The status page and its JSON endpoints, over HTTP and in headless Chromium.

The browser test here runs against the API app with a stand-in service, so the page's
behaviour is pinned down independently of modems; ``test_status_page_daemon.py`` runs
the same page against the real daemon and simulated modems.
"""

from __future__ import annotations

import re

from playwright.async_api import expect

from gateway.http.status_page import CONTENT_SECURITY_POLICY, STATIC_DIR
from tests.gateway.ops.browser import needs_chromium, open_page
from tests.gateway.ops.fakes import ADMIN_TOKEN, ARTIFACTS, READ_TOKEN, Served

PATIENT_NUMBER = "+15557654321"


async def test_page_and_assets_carry_a_strict_policy(served: Served) -> None:
    for path, kind in (("/", "text/html"), ("/static/app.js", "text/javascript"),
                       ("/static/style.css", "text/css")):  # fmt: skip
        async with served.session.get(served.url + path) as response:
            assert response.status == 200, path
            assert response.content_type == kind
            assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    for path in ("/static/index.html", "/static/..%2Fmetrics.py", "/static/nothing.js"):
        assert (await served.get(path, token=None))[0] == 404, path


def test_page_has_no_inline_code_and_writes_data_as_text() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    assert re.findall(r"<script\b[^>]*>", html) == ['<script src="/static/app.js" defer>']
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline event handlers
    assert not re.search(r"\sstyle\s*=", html)
    assert all(f' id="{i}"' in html for i in ("key-input", "test-to", "test-body"))
    assert len(re.findall(r'<th scope="col">', html)) == 16
    assert 'aria-live="polite"' in html
    script = (STATIC_DIR / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink


async def test_status_summary(served: Served) -> None:
    served.metrics.segment_sent("front-desk", 0.8)
    served.metrics.segment_failed("front-desk", "retry_same", 1.0)
    assert (await served.get("/v1/status", token=None))[0] == 401
    async with served.session.get(
        served.url + "/v1/status", headers={"Authorization": f"Bearer {READ_TOKEN}"}
    ) as response:
        assert response.status == 200
        status = await response.json()
    assert status["queue"]["depth"] == {"queued": 4, "sending": 1, "unknown": 0}
    assert status["queue"]["queued_by_priority"] == {"urgent": 1, "normal": 3, "bulk": 0}
    assert status["queue"]["oldest_queued_age_seconds"] == 0
    assert status["store_size_bytes"] == 65536
    assert status["modems"]["up"] == 2
    items = {m["name"]: m for m in status["modems"]["items"]}
    assert items["front-desk"]["segments_sent_today"] == 1
    assert items["front-desk"]["segments_failed_today"] == 1
    assert items["back-office"]["last_send_success_at"] is None


async def test_reset_needs_admin_and_a_known_modem(served: Served) -> None:
    url = served.url + "/v1/modems/{}/reset"
    read = {"Authorization": f"Bearer {READ_TOKEN}"}
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with served.session.post(url.format("front-desk"), headers=read) as response:
        assert response.status == 403
    async with served.session.post(url.format("no-such"), headers=admin) as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"
    assert served.service.resets == []
    async with served.session.post(url.format("front-desk"), headers=admin) as response:
        assert response.status == 202
        assert await response.json() == {"modem": "front-desk", "reset": "started"}
    assert served.service.resets == ["front-desk"]


@needs_chromium
async def test_page_shows_modems_follows_changes_and_resets(served: Served) -> None:
    service = served.service
    async with open_page(served.url) as (page, log):
        await page.goto("/?poll_ms=250")
        # A wrong key is refused and the form comes back.
        await page.get_by_label("Admin API key").fill("sgw_wrong")
        await page.get_by_role("button", name="Use key").click()
        await expect(page.get_by_role("alert")).to_contain_text("not accepted")
        await page.get_by_label("Admin API key").fill(ADMIN_TOKEN)
        await page.get_by_role("button", name="Use key").click()

        front = page.locator('tr[data-modem="front-desk"]')
        back = page.locator('tr[data-modem="back-office"]')
        await expect(front.locator("[data-role=state]")).to_have_text("ready")
        await expect(front).to_contain_text("-71 dBm")
        await expect(front.get_by_role("img", name="5 of 5 bars")).to_be_visible()
        await expect(front).to_contain_text("…4321")  # ICCID: the last four only
        await expect(front).to_contain_text("Quectel EC25")
        await expect(front).to_contain_text("SimNet")
        await expect(page.locator("#modems-up")).to_have_text("2 of 2")
        await expect(page.locator("#queue-queued")).to_have_text("4")
        await expect(page.locator("#messages-suppressed")).to_have_text("3")
        assert await page.evaluate("sessionStorage.getItem('smsgw.admin_key')") == ADMIN_TOKEN

        service.set_state("back-office", "down", "unplugged")
        await expect(back.locator("[data-role=state]")).to_have_text("down")
        await expect(back).to_contain_text("unplugged")
        await expect(page.locator("#announcer")).to_have_text("Modem back-office is now down.")
        await expect(page.locator("#modems-up")).to_have_text("1 of 2")

        await page.get_by_role("button", name="Reset modem front-desk").click()
        await expect(page.locator("#reset-status")).to_have_text("Reset of front-desk started.")
        await expect(front.locator("[data-role=state]")).to_have_text("starting")
        await expect(front.locator("[data-role=state]")).to_have_text("ready")
        assert service.resets == ["front-desk"]
        await expect(page.locator("#event-rows")).to_contain_text("modem.reset")

        await page.get_by_label("To (phone number)").fill(PATIENT_NUMBER)
        await page.get_by_role("button", name="Send test message").click()
        await expect(page.locator("#test-status")).to_have_text("Queued as msg_test1 (queued).")
        assert service.submitted[-1].to == PATIENT_NUMBER
        assert service.submitted[-1].tags == ("test",)

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "status-page-standin.png"), full_page=True)
        # Only the refused wrong key; a CSP violation or a script error would show here.
        assert [e for e in log.errors if "status of 401" not in e] == []


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_text_colours_meet_wcag_aa_contrast() -> None:
    css = (STATIC_DIR / "style.css").read_text()
    var = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6});", css))
    pairs = [
        (var["fg"], var["bg"]), (var["muted"], var["bg"]), (var["muted"], var["head"]),
        (var["ok-fg"], var["ok-bg"]), (var["warn-fg"], var["warn-bg"]),
        (var["bad-fg"], var["bad-bg"]), (var["off-fg"], var["off-bg"]),
        ("#ffffff", "#1f4fa0"), ("#ffffff", "#5a6a85"),  # buttons, enabled and disabled
    ]  # fmt: skip
    for foreground, background in pairs:
        assert contrast(foreground, background) >= 4.5, (foreground, background)
    assert contrast("#000000", "#ffffff") > 20  # the formula itself
