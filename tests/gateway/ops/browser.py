"""Headless Chromium through Playwright, for the status page tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.gateway.ops.fakes import CHROMIUM, CHROMIUM_ARGS

needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason=f"no Chromium at {CHROMIUM} for the browser tests"
)
EXPECT_TIMEOUT_MS = 10_000  # the deadline of each wait on the page


@dataclass
class PageLog:
    """Console errors and failed requests: a CSP violation shows up as one of these."""

    errors: list[str] = field(default_factory=list)


@asynccontextmanager
async def open_page(
    base_url: str, width: int = 1500, height: int = 900, **context_options: Any
) -> AsyncIterator[tuple[Page, PageLog]]:
    """``context_options``: more of Playwright's ``new_context`` (``java_script_enabled``,
    ``is_mobile``, ...)."""
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    log = PageLog()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            context = await browser.new_context(
                base_url=base_url, viewport={"width": width, "height": height}, **context_options
            )
            page = await context.new_page()
            page.set_default_timeout(EXPECT_TIMEOUT_MS)
            page.on(
                "console",
                lambda m: log.errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: log.errors.append(str(e)))
            yield page, log
            await context.close()
        finally:
            await browser.close()
