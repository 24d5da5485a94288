"""The staff inbox at ``/inbox``: patients' threads read and answered in a browser.

Built as the status page is: three static files served under the same strict
Content-Security-Policy (no inline script or style, nothing from elsewhere), holding no
data themselves. The page reads ``/v1/conversations`` and sends through ``/v1/messages``
with a key the staff member types once (kept in the tab's sessionStorage), so the API's
scopes and audit apply to it as to any client.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from aiohttp import web

from gateway.http.feature import Feature, Route
from gateway.http.status_page import SECURITY_HEADERS, STATIC_DIR

PAGE_PATH: Final = "/inbox"
ASSET_PATH: Final = "/inbox/{name}"
PAGE_FILE: Final = "inbox.html"
ASSETS: Final = {"inbox.js": "text/javascript", "inbox.css": "text/css"}


def load_files(directory: Path = STATIC_DIR) -> dict[str, bytes]:
    """Read once at start: small, and never read from disk in the event loop."""
    return {name: (directory / name).read_bytes() for name in (PAGE_FILE, *ASSETS)}


def _response(body: bytes, content_type: str) -> web.Response:
    response = web.Response(body=body, content_type=content_type, charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    return response


def feature() -> Feature:
    """``/inbox`` and its two assets are open: the page asks the API with the staff key."""
    files = load_files()

    async def page(request: web.Request) -> web.Response:
        return _response(files[PAGE_FILE], "text/html")

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        content_type = ASSETS.get(name)
        if content_type is None:  # a fixed list: no path is ever joined from the request
            raise web.HTTPNotFound()
        return _response(files[name], content_type)

    return Feature(
        "inbox_page",
        routes=(
            Route("GET", PAGE_PATH, page, None, head=True, documented=False),
            Route("GET", ASSET_PATH, asset, None, head=True, documented=False),
        ),
    )
