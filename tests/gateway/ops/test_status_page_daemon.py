"""The status page served by the real daemon, on simulated modems, in headless Chromium.

Also the live ``/metrics`` of that daemon: promtool accepts it, and a message with a
known number and text leaves no trace of either in it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.gateway.ops.browser import needs_chromium, open_page
from tests.gateway.ops.daemon_proc import RunningDaemon, running_daemon
from tests.gateway.ops.fakes import ARTIFACTS, PROMTOOL
from tests.support import poll_until

PATIENT_NUMBER = "+15557654321"
PATIENT_TEXT = "Your biopsy results are ready, call Dr Quill"
SEND_TIMEOUT = 15.0  # seconds for a queued message to reach the simulated network
FRONT_ICCID = "8901260000000004321"
# The driver looks for the port's disappearance after AT+CFUN=1,1 once a second; a
# simulated reboot shorter than that can be missed, so the reboot outlasts one look.
RESET_TIME = 1.5  # seconds


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[RunningDaemon]:
    modems = {
        "front-desk": {
            "profile": "quectel",
            "iccid": FRONT_ICCID,
            "report_delay": 0.05,
            "reset_time": RESET_TIME,
        },
        "back-office": {"profile": "simcom", "report_delay": 0.05},
    }
    async with running_daemon(tmp_path, modems) as running:
        yield running


@needs_chromium
async def test_page_on_the_daemon_shows_unplug_and_reset(daemon: RunningDaemon) -> None:
    async with open_page(daemon.url) as (page, log):
        await page.goto("/?poll_ms=250")
        await page.get_by_label("Admin API key").fill(daemon.token)
        await page.get_by_role("button", name="Use key").click()

        front = page.locator('tr[data-modem="front-desk"]')
        back = page.locator('tr[data-modem="back-office"]')
        await expect(front.locator("[data-role=state]")).to_have_text("ready")
        await expect(back.locator("[data-role=state]")).to_have_text("ready")
        await expect(front).to_contain_text("…4321")
        await expect(front).to_contain_text(" dBm")
        await expect(page.locator("#modems-up")).to_have_text("2 of 2")

        # Unplug: the daemon sees the port go and the page follows.
        await daemon.sims["back-office"].vanish()
        await expect(back.locator("[data-role=state]")).not_to_have_text("ready")
        await expect(back.locator("[data-role=state]")).to_have_text("down")
        await expect(page.locator("#modems-up")).to_have_text("1 of 2")
        await expect(page.locator("#announcer")).to_contain_text("back-office is now")
        down_event = page.locator("#event-rows tr", has_text="modem.down")
        await expect(down_event.filter(has_text="back-office")).to_contain_text("unplugged")
        await page.screenshot(path=str(_artifact("status-page.png")), full_page=True)

        # Reset from the page: the modem is told to restart, drops off and comes back.
        front_sim = daemon.sims["front-desk"]
        commands_before = len(front_sim.commands)
        await page.get_by_role("button", name="Reset modem front-desk").click()
        await expect(page.locator("#reset-status")).to_have_text("Reset of front-desk started.")
        await expect(page.locator("#event-rows")).to_contain_text("modem.reset")
        await expect(down_event.filter(has_text="front-desk").first).to_be_visible()
        await expect(front.locator("[data-role=state]")).to_have_text("ready")
        assert any("CFUN" in c for c in front_sim.commands[commands_before:]), front_sim.commands

        # Replug: back to ready without anyone touching the daemon.
        await daemon.sims["back-office"].reappear()
        await expect(back.locator("[data-role=state]")).to_have_text("ready")
        await expect(page.locator("#modems-up")).to_have_text("2 of 2")

        # A test message from the page goes out through one of the modems.
        await page.get_by_label("To (phone number)").fill(PATIENT_NUMBER)
        await page.get_by_role("button", name="Send test message").click()
        await expect(page.locator("#test-status")).to_contain_text("Queued as msg_")

        async def on_air() -> bool:
            return sum(len(sim.sent) for sim in daemon.sims.values()) == 1

        await poll_until(on_air, "the test message to reach a simulated modem", SEND_TIMEOUT)
        await page.screenshot(path=str(_artifact("status-page-recovered.png")), full_page=True)
        assert [e for e in log.errors if "status of 401" not in e] == []


async def test_daemon_metrics_pass_promtool_and_hold_no_phi(daemon: RunningDaemon) -> None:
    headers = {"Authorization": f"Bearer {daemon.token}"}
    body = {"to": PATIENT_NUMBER, "body": PATIENT_TEXT}
    async with daemon.session.post(daemon.url + "/v1/messages", json=body, headers=headers) as r:
        assert r.status == 202, await r.text()
        message_id = (await r.json())["id"]
    async with daemon.session.get(
        daemon.url + f"/v1/messages?to={PATIENT_NUMBER}", headers=headers
    ) as r:
        assert r.status == 200

    async def sent() -> bool:
        message = await daemon.get_json(f"/v1/messages/{message_id}")
        return bool(message["state"] in ("sent", "delivered"))

    await poll_until(sent, "the message to be sent", SEND_TIMEOUT)
    async with daemon.session.get(daemon.url + "/metrics") as r:
        assert r.status == 200
        text = await r.text()
    assert 'smsgw_modem_up{modem="front-desk"} 1.0' in text
    assert "smsgw_segments_sent_total" in text
    assert 'route="/v1/messages/{id}"' in text
    assert PATIENT_NUMBER[2:] not in text
    assert "biopsy" not in text
    if os.access(PROMTOOL, os.X_OK):
        proc = await asyncio.create_subprocess_exec(
            PROMTOOL, "check", "metrics",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate(text.encode())
        assert proc.returncode == 0, out.decode()


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
