"""The patient's secure-message page on a poor connection: bytes transferred for the
first view and time to first render, in headless Chromium throttled to a 3G profile
(DevTools ``Network.emulateNetworkConditions``: 750 kbit/s down, 250 kbit/s up, 100 ms
latency), at a phone's viewport, with an empty cache each run.

A real daemon runs in this process (one simulated modem, a temporary SQLite store, the
API and the public listener on loopback); a secure message with a small PNG is created
through the API, and its link taken from the SMS the simulated network received.

Two views, each measured ``--runs`` times (median reported):
  landing — the link as the SMS opens it: the date-of-birth form;
  content — after the form is posted: the text, the image and the reply box.

    .venv/bin/python bench/secure_page.py [--runs 3] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import struct
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import CDPSession, Page, async_playwright

from drivers.simulator import SimulatedModem
from gateway.config import (
    ClinicConfig,
    Config,
    ModemConfig,
    PublicListenerConfig,
    RateConfig,
    ServerConfig,
    StoreConfig,
)
from gateway.crypto import KeyRing
from gateway.daemon import Daemon
from gateway.store.base import Scope

PATIENT = "+15551230077"
DOB = "1984-03-09"
BODY = (
    "Your blood test results are back and everything is within the normal range. "
    "Dr Quill would like to see you again in six months."
)


def png(width: int, height: int) -> bytes:
    """A grey RGB image as a valid PNG (signature, IHDR, IDAT, IEND with their CRCs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\0" + bytes([128, 128, 128]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = png(64, 64)  # a small scan-like image; the page shows it inline
THREE_G: dict[str, Any] = {
    "offline": False,
    "latency": 100,  # ms
    "downloadThroughput": 750 * 1000 / 8,  # bytes/s
    "uploadThroughput": 250 * 1000 / 8,
}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


async def start_daemon(root: Path) -> tuple[Daemon, SimulatedModem, str]:
    data = root / "data"
    data.mkdir()
    key_file = data / "smsgw.key"
    KeyRing.create(key_file)
    sim = SimulatedModem(root / "alpha", profile="quectel", report_delay=0.02, seed=7)
    await sim.start()
    config = Config(
        path=root / "smsgw.toml",
        server=ServerConfig(host="127.0.0.1", port=0, public=PublicListenerConfig(port=0)),
        store=StoreConfig(data_dir=data, key_file=key_file, durable=False),
        modems=(
            ModemConfig(
                name="alpha", port=str(sim.path), profile="quectel", rate=RateConfig(per_minute=0)
            ),
        ),
        clinic=ClinicConfig(name="Maple Street Clinic", phone="+1 555 010 2000"),
    )
    daemon = Daemon(config)
    await daemon.start()
    deadline = time.monotonic() + 30
    while not all(h.usable() for h in daemon.handles.values()):
        if time.monotonic() > deadline:
            raise SystemExit("the simulated modem did not come up")
        await asyncio.sleep(0.05)
    _, token = await daemon.store.create_api_key("bench", frozenset(Scope))
    return daemon, sim, token


async def new_link(daemon: Daemon, sim: SimulatedModem, token: str) -> str:
    before = len(sim.sent)
    request = {
        "to": PATIENT,
        "body": {
            "text": BODY,
            "attachments": [
                {"filename": "scan.png", "content_base64": base64.b64encode(PNG).decode()}
            ],
        },
        "verify": {"method": "dob", "dob": DOB},
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{daemon.api_url}/v1/secure-messages", json=request, headers=headers) as r,
    ):
        if r.status != 201:
            raise SystemExit(f"create failed: {r.status} {await r.text()}")
    sent = await sim.wait_sent(before + 1, timeout=30)
    text = sent[before].submit.text
    return text[text.index("http") :]


class Traffic:
    """Bytes received over the network, from DevTools' loading events."""

    def __init__(self, cdp: CDPSession) -> None:
        self.bytes = 0
        cdp.on("Network.loadingFinished", self._finished)

    def _finished(self, event: dict[str, Any]) -> None:
        self.bytes += int(event.get("encodedDataLength", 0))


async def first_render_ms(page: Page) -> float:
    """First contentful paint, from the page's own performance timeline."""
    value = await page.evaluate(
        "() => new Promise(done => {"
        " const find = () => performance.getEntriesByName('first-contentful-paint')[0];"
        " const hit = find(); if (hit) { done(hit.startTime); return; }"
        " new PerformanceObserver(() => { const e = find(); if (e) done(e.startTime); })"
        ".observe({type: 'paint', buffered: true}); })"
    )
    return float(value)


async def measure(chromium: str, link: str) -> dict[str, float]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(java_script_enabled=True, **PHONE)
            page = await context.new_page()
            cdp = await context.new_cdp_session(page)
            await cdp.send("Network.enable")
            await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
            await cdp.send("Network.emulateNetworkConditions", THREE_G)
            traffic = Traffic(cdp)
            started = time.perf_counter()
            await page.goto(link, wait_until="load")
            landing_load = (time.perf_counter() - started) * 1000
            landing_paint = await first_render_ms(page)
            landing_bytes = traffic.bytes
            await page.get_by_label("Date of birth").fill(DOB)
            traffic.bytes = 0
            started = time.perf_counter()
            async with page.expect_navigation(wait_until="load"):
                await page.get_by_role("button", name="Continue").click()
            content_load = (time.perf_counter() - started) * 1000
            content_paint = await first_render_ms(page)
            if BODY not in await page.content():
                raise SystemExit("the content page did not show the text")
            shown = await page.get_by_role("img", name="scan.png").evaluate("i => i.naturalWidth")
            if shown != 64:
                raise SystemExit("the content page did not show the image")
            await context.close()
        finally:
            await browser.close()
    return {
        "landing_bytes": landing_bytes,
        "landing_first_render_ms": landing_paint,
        "landing_load_ms": landing_load,
        "content_bytes": traffic.bytes,
        "content_first_render_ms": content_paint,
        "content_load_ms": content_load,
    }


async def main(runs: int, chromium: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        daemon, sim, token = await start_daemon(Path(tmp))
        try:
            results = []
            for _ in range(runs):
                link = await new_link(daemon, sim, token)  # a fresh message: a first view
                results.append(await measure(chromium, link))
        finally:
            await daemon.stop()
            await sim.stop()
    print(f"secure page, 3G (750/250 kbit/s, 100 ms), 390x844, median of {runs}:")
    for key in results[0]:
        values = [r[key] for r in results]
        unit = "B" if key.endswith("bytes") else "ms"
        shown = ", ".join(f"{v:.0f}" for v in values)
        print(f"  {key:26} {statistics.median(values):8.0f} {unit}   (runs: {shown})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.chromium))
