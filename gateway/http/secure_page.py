"""The patient's secure-message pages: a separate aiohttp app for the public listener.

It serves the pages under ``/s/<token>`` and their stylesheet, and nothing else: no
API, no status page, no metrics (every other path is a plain 404). Each answer carries
a strict Content-Security-Policy, ``Cache-Control: no-store``, ``Referrer-Policy:
no-referrer`` and ``X-Robots-Tag: noindex``. After verification a signed session
cookie, scoped to the link's path, HttpOnly, SameSite=Strict and Secure when served
over https, opens the content for a short while; the reply form also carries a token
tied to that cookie.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Final
from urllib.parse import quote

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from gateway.core.secure_desk import LINK_PATH, SecureDesk
from gateway.core.secure_tokens import SessionSigner
from gateway.errors import AuthThrottled, GatewayError, ValidationError
from gateway.http.secure_html import (
    STYLESHEET,
    STYLESHEET_PATH,
    Clinic,
    closed_page,
    code_page,
    dob_page,
    not_found_page,
    read_page,
    throttled_page,
    unavailable_page,
)
from gateway.store.secure_records import DOB, SecureMessage

log = logging.getLogger(__name__)

COOKIE: Final = "sgw_session"
MAX_FORM_BYTES: Final = 16 * 1024
TOKEN_RE: Final = re.compile(r"[A-Za-z0-9_-]{20,100}")
CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
HTML: Final = "text/html"


def source_address(request: web.Request) -> str:
    """The patient's address: behind a reverse proxy on this host (a loopback peer), the
    last ``X-Forwarded-For`` entry, which that proxy wrote; otherwise the peer."""
    peer = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    try:
        local = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        local = False
    if local and forwarded:
        last = forwarded.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer
    return peer


class PublicAccessLog(AbstractAccessLogger):
    """The public listener's access log: the route, never the path, since a path holds
    a link's token (``/s/{token}/verify``); an unrouted request is logged as ``-``."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %d %d %.1fms',
            request.remote,
            request.method,
            _route(request),
            response.status,
            response.body_length,
            time * 1000,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def _route(request: BaseRequest) -> str:
    try:
        match_info = getattr(request, "match_info", None)
    except AssertionError:  # a request aiohttp could not parse: never routed
        return "-"
    resource = None if match_info is None else match_info.route.resource
    return resource.canonical if resource is not None else "-"


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        status = exc.status if exc.status in (403, 404, 405, 413) else 404
        page = not_found_page(request.app[CLINIC])
        response = web.Response(status=status, body=page, content_type=HTML)
    except GatewayError as exc:  # the store unavailable, a modem-less gateway: no detail
        log.warning("secure page not served: %s", exc.code)
        page = unavailable_page(request.app[CLINIC])
        response = web.Response(status=503, body=page, content_type=HTML)
    response.headers.update(SECURITY_HEADERS)
    return response


CLINIC = web.AppKey[Clinic]("clinic")


def _see_other(location: str) -> web.Response:
    """After a form: the page again by GET (so a reload does not post twice)."""
    return web.Response(status=303, headers={"Location": location})


class SecurePages:
    def __init__(self, desk: SecureDesk, clinic: Clinic, *, https: bool) -> None:
        self._desk = desk
        self._clinic = clinic
        self._https = https
        self._sessions = SessionSigner()

    def _html(self, body: bytes, status: int = 200) -> web.Response:
        return web.Response(status=status, body=body, content_type=HTML, charset="utf-8")

    def _closed(self) -> web.Response:
        return self._html(closed_page(self._clinic), 404)

    def _throttled(self, exc: AuthThrottled) -> web.Response:
        response = self._html(throttled_page(self._clinic), 429)
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return response

    @staticmethod
    def _token(request: web.Request) -> str | None:
        token = request.match_info["token"]
        return token if TOKEN_RE.fullmatch(token) else None

    def _base(self, token: str) -> str:
        return f"{LINK_PATH}{token}"

    def _session(self, request: web.Request, record: SecureMessage) -> str | None:
        cookie = request.cookies.get(COOKIE)
        return cookie if self._sessions.valid(record.id, cookie) else None

    def _verify_page(
        self,
        record: SecureMessage,
        token: str,
        *,
        sent: bool = False,
        error: str | None = None,
        status: int = 200,
    ) -> web.Response:
        base = self._base(token)
        if record.method == DOB:
            return self._html(dob_page(self._clinic, f"{base}/verify", error), status)
        body = code_page(self._clinic, f"{base}/code", f"{base}/verify", sent=sent, error=error)
        return self._html(body, status)

    async def view(self, request: web.Request) -> web.Response:
        token = self._token(request)
        address = source_address(request)
        record = None if token is None else await self._desk.open(token, address)
        if token is None or record is None:
            return self._closed()
        cookie = self._session(request, record)
        if cookie is None:
            return self._verify_page(record, token)
        content = await self._desk.read(record, address)
        if content is None:
            return self._closed()
        form = self._sessions.form_token(record.id, cookie)
        answered = request.query.get("answered") == "1"
        body = read_page(self._clinic, self._base(token), content, form, answered=answered)
        return self._html(body)

    async def _form(self, request: web.Request) -> dict[str, str]:
        """A form posted from the page itself: a post another site's page makes the
        browser send (``Sec-Fetch-Site: cross-site``) is refused."""
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in {"same-origin", "none"}:
            raise web.HTTPForbidden()
        if request.content_type != "application/x-www-form-urlencoded":
            raise web.HTTPNotFound()
        data = await request.post()
        return {k: v for k, v in data.items() if isinstance(v, str)}

    async def _record(self, request: web.Request) -> tuple[str, SecureMessage] | None:
        token = self._token(request)
        if token is None:
            return None
        record = await self._desk.lookup(token)
        return None if record is None else (token, record)

    async def send_code(self, request: web.Request) -> web.Response:
        found = await self._record(request)
        if found is None:
            return self._closed()
        token, record = found
        await self._form(request)
        if record.method == DOB:
            return self._verify_page(record, token)
        try:
            await self._desk.send_code(record, source_address(request))
        except AuthThrottled as exc:
            return self._throttled(exc)
        return self._verify_page(record, token, sent=True)

    async def verify(self, request: web.Request) -> web.Response:
        found = await self._record(request)
        if found is None:
            return self._closed()
        token, record = found
        form = await self._form(request)
        answer = form.get("dob" if record.method == DOB else "code", "")[:64]
        try:
            outcome = await self._desk.verify(record, answer, source_address(request))
        except AuthThrottled as exc:
            return self._throttled(exc)
        if outcome.record.locked_at is not None:
            return self._closed()
        if not outcome.ok:
            left = self._desk.settings.max_failures - outcome.record.failures
            what = "date of birth" if record.method == DOB else "code"
            error = f"That {what} did not match. {left} tr{'y' if left == 1 else 'ies'} left."
            return self._verify_page(record, token, sent=True, error=error, status=400)
        response = _see_other(self._base(token))
        response.set_cookie(
            COOKIE,
            self._sessions.session(record.id),
            max_age=int(self._sessions.lifetime),
            path=self._base(token),
            secure=self._https or request.secure,
            httponly=True,
            samesite="Strict",
        )
        return response

    async def reply(self, request: web.Request) -> web.Response:
        found = await self._record(request)
        if found is None:
            return self._closed()
        token, record = found
        cookie = self._session(request, record)
        form = await self._form(request)
        if cookie is None or not self._sessions.form_valid(record.id, cookie, form.get("form")):
            return self._verify_page(record, token, status=403)
        try:
            await self._desk.answer(record, form.get("text", ""), source_address(request))
        except ValidationError:
            return _see_other(self._base(token))
        return _see_other(f"{self._base(token)}?answered=1")

    async def attachment(self, request: web.Request) -> web.StreamResponse:
        found = await self._record(request)
        if found is None:
            return self._closed()
        _token, record = found
        if self._session(request, record) is None:
            return self._closed()
        try:
            seq = int(request.match_info["seq"])
        except ValueError:
            raise web.HTTPNotFound() from None
        item = await self._desk.attachment(record, seq, source_address(request))
        if item is None:
            raise web.HTTPNotFound()
        disposition = "attachment" if request.query.get("download") == "1" else "inline"
        ascii_name = item.filename.encode("ascii", "replace").decode().replace("?", "_")
        return web.Response(
            body=item.content,
            headers={
                "Content-Type": item.content_type,
                "Content-Disposition": f'{disposition}; filename="{ascii_name}"; '
                f"filename*=UTF-8''{quote(item.filename)}",
            },
        )

    async def stylesheet(self, request: web.Request) -> web.Response:
        return web.Response(body=STYLESHEET, content_type="text/css", charset="utf-8")

    async def no_icon(self, request: web.Request) -> web.Response:
        """Browsers ask for one; an empty answer costs less than an icon or a 404."""
        return web.Response(status=204)


def make_public_app(desk: SecureDesk, clinic: Clinic, *, https: bool) -> web.Application:
    """The public listener's whole app: the pages, their stylesheet, and 404 for the rest."""
    pages = SecurePages(desk, clinic, https=https)
    app = web.Application(middlewares=[_headers], client_max_size=MAX_FORM_BYTES)
    app[CLINIC] = clinic
    app.router.add_get(STYLESHEET_PATH, pages.stylesheet)
    app.router.add_get("/favicon.ico", pages.no_icon)
    app.router.add_get(LINK_PATH + "{token}", pages.view)
    app.router.add_post(LINK_PATH + "{token}/verify", pages.verify)
    app.router.add_post(LINK_PATH + "{token}/code", pages.send_code)
    app.router.add_post(LINK_PATH + "{token}/reply", pages.reply)
    app.router.add_get(LINK_PATH + "{token}/files/{seq}", pages.attachment)
    app.freeze()
    return app
