"""Kannel's ``sendsms`` interface: ``GET|POST /cgi-bin/sendsms``.

Parameters as Kannel reads them: ``username``, ``password``, ``to`` (several
numbers separated by spaces), ``text``, ``from``, ``coding`` (0 GSM, 1 8-bit
(refused), 2 UCS-2), ``charset`` (how ``text`` is encoded; UTF-8 by default),
``dlr-mask`` and ``dlr-url``. ``username`` is an API key's id or AccountSid and ``password`` its
token (``send`` scope). A ``dlr-url`` whose host is not in ``[server] callback_hosts``
is refused (``400 DLR-URL host not allowed, rejected``). Answers are Kannel's
plain-text lines and statuses:
``202 0: Accepted for delivery``, ``403 Authorization failed for sendsms``,
``400 Missing receiver number``...

Delivery reports are GET requests to ``dlr-url`` for the event types its
``dlr-mask`` selects (1 delivered, 2 failed, 4 buffered, 8 submitted to the
SMSC, 16 rejected by the SMSC), with Kannel's escapes filled in: ``%d`` type,
``%p`` receiver, ``%P`` sender, ``%q``/``%Q`` the same without ``+``, ``%A`` the
report text, ``%T`` Unix time, ``%t`` ``YYYY-MM-DD HH:MM:SS``, ``%i`` modem,
``%I`` and ``%F`` message id, ``%a`` and ``%b`` the message text, ``%c`` coding,
``%%`` a percent sign.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, unquote_to_bytes

from aiohttp import web

from gateway.compat.sids import key_id_of
from gateway.config import EventKind, check_url
from gateway.core.service import SendRequest
from gateway.errors import (
    Forbidden,
    GatewayError,
    InvalidNumber,
    OptedOut,
    TextTooLong,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    ValidationError,
)
from gateway.http.context import CONTEXT, has_scope
from gateway.http.feature import Feature, Route
from gateway.http.middlewares import retry_after
from gateway.store.base import Message, Scope, Store
from gateway.store.sealing import dump_json
from gateway.webhooks.emitter import COMPAT_KIND, COMPAT_REF
from gateway.webhooks.events import WebhookEvent
from gateway.webhooks.hosts import CallbackHosts
from gateway.webhooks.targets import KANNEL_DLR

PATH: Final = "/cgi-bin/sendsms"
KIND: Final = "kannel"
MAX_QUERY_BYTES: Final = 65536
MAX_RECEIVERS: Final = 100

ACCEPTED: Final = "0: Accepted for delivery"
SENT_MANY: Final = "Sent."
AUTH_FAILED: Final = "Authorization failed for sendsms"
MISSING_RECEIVER: Final = "Missing receiver number"
EMPTY_RECEIVER: Final = "Empty receiver number not allowed"
BAD_CHARSET: Final = "Charset or body misformed, rejected"
BAD_CODING: Final = "Coding not supported, rejected"
BAD_DLR_URL: Final = "DLR-URL misformed, rejected"
DLR_URL_NOT_ALLOWED: Final = "DLR-URL host not allowed, rejected"
BAD_DLR_MASK: Final = "DLR-Mask misformed, rejected"
DENIED: Final = "Number(s) has/have been denied."
# Kannel's answer when its black-list refuses the receiver; the opt-out list is ours.
OPTED_OUT: Final = "Number(s) has/have been denied by white- and/or black-lists."
TOO_LONG: Final = "Message too long, rejected"
FAILED: Final = "Sending failed."
THROTTLED: Final = "Too many requests, rejected"

DLR_DELIVERED: Final = 1
DLR_FAILED: Final = 2
DLR_SUBMITTED: Final = 8
DLR_REJECTED: Final = 16


def answer(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


def too_many(exc: TooManyRequests) -> web.Response:
    """Kannel has no throttling answer of its own: HTTP's 429, with our reason as text."""
    response = answer(429, f"{THROTTLED}: {exc.message}")
    response.headers["Retry-After"] = retry_after(exc)
    return response


def _params(raw: bytes) -> dict[str, bytes]:
    """Name -> raw bytes of the value (``text`` is decoded later with ``charset``)."""
    params: dict[str, bytes] = {}
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        key = unquote_to_bytes(name.replace(b"+", b" ")).decode("ascii", "replace")
        params.setdefault(key, unquote_to_bytes(value.replace(b"+", b" ")))
    return params


class KannelApi:
    def __init__(self, store: Store, hosts: CallbackHosts) -> None:
        self.store = store
        self.hosts = hosts

    def feature(self) -> Feature:
        """Username and password checked inside (no bearer key); not in the /v1 document."""
        return Feature(
            "kannel",
            routes=(
                Route("GET", PATH, self.sendsms, None, documented=False),
                Route("POST", PATH, self.sendsms, None, documented=False),
            ),
        )

    async def sendsms(self, request: web.Request) -> web.Response:
        raw = request.query_string.encode()
        if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
            raw = raw + b"&" + await request.read()
        if len(raw) > MAX_QUERY_BYTES:
            return answer(413, TOO_LONG)
        params = _params(raw)

        def text_of(name: str) -> str:
            return params.get(name, b"").decode("utf-8", "replace")

        context = request.app[CONTEXT]
        service = context.service
        username = text_of("username")
        try:
            key = await context.guard.authenticate(
                service.store,
                text_of("password"),
                request.remote,
                key_id=key_id_of(username) or username,  # the key id or its AccountSid
            )
        except TooManyRequests as exc:
            return too_many(exc)
        except (Unauthorized, Forbidden):
            return answer(403, AUTH_FAILED)
        if not has_scope(key, Scope.SEND):
            return answer(403, AUTH_FAILED)
        if "to" not in params:
            return answer(400, MISSING_RECEIVER)
        receivers = text_of("to").split()
        if not receivers:
            return answer(400, EMPTY_RECEIVER)
        if len(receivers) > MAX_RECEIVERS:
            return answer(400, DENIED)
        coding = text_of("coding") or "0"
        if coding not in ("0", "2"):
            return answer(400, BAD_CODING)
        charset = text_of("charset") or ("UTF-16BE" if coding == "2" else "UTF-8")
        try:
            text = params.get("text", b"").decode(charset)
        except (LookupError, UnicodeDecodeError):
            return answer(400, BAD_CHARSET)
        mask_raw = text_of("dlr-mask") or "0"
        if not mask_raw.isascii() or not mask_raw.isdigit() or int(mask_raw) > 31:
            return answer(400, BAD_DLR_MASK)
        mask = int(mask_raw)
        dlr_url = text_of("dlr-url")
        if dlr_url:
            try:
                check_url(dlr_url, "dlr-url")
            except ValidationError:
                return answer(400, BAD_DLR_URL)
            if not self.hosts.matches(dlr_url):
                return answer(400, DLR_URL_NOT_ALLOWED)
        metadata: dict[str, Any] = {COMPAT_KIND: KIND}
        if dlr_url and mask:
            spec = {"url": dlr_url, "mask": mask, "from": text_of("from"), "coding": coding}
            metadata[COMPAT_REF] = await self.store.save_compat_spec(KIND, spec)
        sends = [
            SendRequest(to=number, body=text, metadata=metadata, request_report=bool(mask & 3))
            for number in receivers
        ]
        try:
            await service.submit(sends, key, refuse_opted_out=len(sends) == 1)
        except OptedOut:
            return answer(403, OPTED_OUT)
        except InvalidNumber:
            return answer(400, DENIED)
        except TextTooLong:
            return answer(400, TOO_LONG)
        except Unavailable:
            return answer(503, FAILED)
        except TooManyRequests as exc:
            return too_many(exc)
        except GatewayError as exc:
            if exc.status >= 500:
                raise
            return answer(400, BAD_CHARSET if exc.field and exc.field.endswith("body") else FAILED)
        return answer(202, ACCEPTED if len(sends) == 1 else SENT_MANY)


def dlr_type(event: WebhookEvent, message: Message) -> int:
    """Kannel has no type for an unknown outcome: it may have left, as Twilio's ``sent``
    says, so it is reported as submitted. Expired and cancelled messages never left
    (rejected); a message that left and then failed is undelivered."""
    if event.kind is EventKind.MESSAGE_DELIVERED:
        return DLR_DELIVERED
    if event.kind in (EventKind.MESSAGE_SENT, EventKind.MESSAGE_UNKNOWN):
        return DLR_SUBMITTED
    return DLR_FAILED if message.sent_at is not None else DLR_REJECTED


_REPORT_TEXT: Final = {
    DLR_DELIVERED: "DELIVRD",
    DLR_FAILED: "UNDELIV",
    DLR_SUBMITTED: "ACK/",
    DLR_REJECTED: "NACK/",
}


def expand(template: str, values: dict[str, str]) -> str:
    """Kannel's ``%x`` escapes, each value URL-encoded; unknown escapes become empty."""
    out: list[str] = []
    i = 0
    while i < len(template):
        char = template[i]
        if char == "%" and i + 1 < len(template):
            code = template[i + 1]
            out.append("%" if code == "%" else quote(values.get(code, ""), safe=""))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def dlr_callbacks(event: WebhookEvent, spec: dict[str, Any]) -> list[tuple[str, bytes]]:
    message = event.message
    if message is None:
        return []
    kind = dlr_type(event, message)
    if not int(spec.get("mask", 0)) & kind:
        return []
    when = message.delivered_at or message.sent_at or message.updated_at or time.time()
    report = _REPORT_TEXT[kind]
    if kind == DLR_DELIVERED:
        report = f"id:{message.id} stat:DELIVRD"
    sender = str(spec.get("from", ""))
    values = {
        "d": str(kind),
        "p": message.to,
        "P": sender,
        "q": message.to.removeprefix("+"),
        "Q": sender.removeprefix("+"),
        "A": report,
        "T": str(int(when)),
        "t": datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "i": message.modem or "",
        "I": message.id,
        "F": message.id,
        "a": message.body,
        "b": message.body,
        "c": str(spec.get("coding", "0")),
    }
    url = expand(str(spec["url"]), values)
    return [(KANNEL_DLR, dump_json({"url": url}))]
