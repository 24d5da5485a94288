"""A subset of Twilio's Messages API (2010-04-01), enough for the usual client code.

Routes: ``POST|GET /2010-04-01/Accounts/{AccountSid}/Messages.json`` and
``GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json``.

Authentication is HTTP basic: the account SID is an API key's AccountSid
(``AC…``, see :mod:`gateway.compat.sids`) or its id (``key_…``) and the auth token is
that key's full token, so ``Client(account_sid, token)`` works unchanged. Twilio's
API-key form works too: the key's ``SK…`` sid as the user, the token as the secret and
the AccountSid in the path (``Client(sk_sid, token, account_sid)``). Creating needs
the ``send`` scope, reading ``read``.
Answers and errors have Twilio's JSON shapes (errors: ``code``, ``message``,
``more_info``, ``status``). ``StatusCallback`` receives Twilio's form fields signed
with ``X-Twilio-Signature``, made not with the auth token (the gateway keeps no token)
but with the key's callback secret, derived from the key ring (``smsgw keys
callback-secret``): the receiver's ``RequestValidator`` is given that. Its host must be
in ``[server] callback_hosts`` (else error 21609). ``MessagingServiceSid`` is accepted
and ignored: the gateway's routes choose the modem. Listing shows every message
the key may read, newest first.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from gateway.compat.sids import API_KEY, from_sid, key_id_of, to_sid
from gateway.config import EventKind, check_url
from gateway.core.numbers import normalize
from gateway.core.service import GatewayService, SendRequest
from gateway.errors import (
    EmptyText,
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
from gateway.http.context import CONTEXT, has_scope, reader
from gateway.http.feature import Feature, Route
from gateway.store.base import ApiKey, Message, MessageFilter, MessageState, Scope, Store
from gateway.store.sealing import dump_json
from gateway.webhooks.emitter import COMPAT_KIND, COMPAT_REF
from gateway.webhooks.events import WebhookEvent
from gateway.webhooks.hosts import CallbackHosts
from gateway.webhooks.subscriptions import Subscription
from gateway.webhooks.targets import TWILIO_CALLBACK

API_VERSION: Final = "2010-04-01"
BASE: Final = f"/{API_VERSION}/Accounts/{{AccountSid}}"
KIND: Final = "twilio"
FROM_KEY: Final = "twilio_from"
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000
MAX_BODY_CHARS: Final = 1600
MAX_FIELD_CHARS: Final = 2048
MORE_INFO: Final = "https://www.twilio.com/docs/errors/"
IDEMPOTENCY_HEADER: Final = "I-Twilio-Idempotency-Token"
CALLBACK_NOT_ALLOWED: Final = "StatusCallback host is not allowed by this gateway's callback_hosts."
TOO_LONG_TEXT: Final = "The concatenated message body exceeds the 1600 character limit."

STATUS: Final = {
    MessageState.QUEUED: "queued",
    MessageState.SENDING: "sending",
    MessageState.SENT: "sent",
    MessageState.DELIVERED: "delivered",
    MessageState.FAILED: "failed",
    MessageState.EXPIRED: "failed",
    MessageState.UNKNOWN: "sent",  # handed to a modem, answer lost: it may have gone out
    MessageState.CANCELLED: "canceled",
    MessageState.SUPPRESSED: "failed",  # as Twilio reports a send to an opted-out number
}
EVENT_STATUS: Final = {
    EventKind.MESSAGE_SENT: "sent",
    EventKind.MESSAGE_DELIVERED: "delivered",
}
TOO_MANY_REQUESTS: Final = 20429  # Twilio's code for a 429
ERROR_UNKNOWN: Final = 30008  # Twilio's "Unknown error" for a failed message
ERROR_UNDELIVERED: Final = 30003  # "Unreachable destination handset"
ERROR_UNSUBSCRIBED: Final = 21610  # the recipient replied STOP
UNSUBSCRIBED_TEXT: Final = "Attempt to send to unsubscribed recipient"


class TwilioError(Exception):
    def __init__(
        self, status: int, code: int, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retry_after = retry_after


def error_response(
    status: int, code: int, message: str, retry_after: float | None = None
) -> web.Response:
    body = {"code": code, "message": message, "more_info": f"{MORE_INFO}{code}", "status": status}
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return web.json_response(body, status=status, headers=headers)


def _date(ts: float | None) -> str | None:
    """RFC 2822, as Twilio writes dates."""
    if ts is None:
        return None
    return email.utils.format_datetime(datetime.fromtimestamp(int(ts), UTC))


def message_status(message: Message) -> str:
    if message.state is MessageState.FAILED and message.sent_at is not None:
        return "undelivered"  # it left, the network reported it not delivered
    return STATUS[message.state]


def error_code(message: Message) -> int:
    """Twilio's code for a message that did not reach the patient."""
    if message.state is MessageState.SUPPRESSED:
        return ERROR_UNSUBSCRIBED
    return ERROR_UNDELIVERED if message.sent_at is not None else ERROR_UNKNOWN


def message_json(message: Message, account_sid: str) -> dict[str, Any]:
    sid = to_sid(message.id)
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"
    failed = message.state in (MessageState.FAILED, MessageState.EXPIRED, MessageState.SUPPRESSED)
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": _date(message.created_at),
        "date_sent": _date(message.sent_at),
        "date_updated": _date(message.updated_at),
        "direction": "outbound-api",
        "error_code": error_code(message) if failed else None,
        "error_message": message.last_error_code if failed else None,
        "from": message.metadata.get(FROM_KEY),
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": str(max(1, len(message.segments))),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": message_status(message),
        "subresource_uris": {"media": uri.removesuffix(".json") + "/Media.json"},
        "to": message.to,
        "uri": uri,
    }


class TwilioApi:
    def __init__(self, store: Store, hosts: CallbackHosts) -> None:
        self.store = store
        self.hosts = hosts

    def feature(self) -> Feature:
        """Basic auth checked inside (no bearer key); not part of the /v1 document."""
        return Feature(
            "twilio",
            routes=(
                Route("POST", f"{BASE}/Messages.json", self.create, None, documented=False),
                Route("GET", f"{BASE}/Messages.json", self.list, None, documented=False),
                Route("GET", f"{BASE}/Messages/{{Sid}}.json", self.fetch, None, documented=False),
            ),
        )

    async def create(self, request: web.Request) -> web.StreamResponse:
        try:
            service, key, account = await _authorize(request, Scope.SEND)
            form = await _form(request)
            answer = await self._create(service, key, account, form, request)
        except TwilioError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.retry_after)
        return web.json_response(answer, status=201)

    async def _create(
        self,
        service: GatewayService,
        key: ApiKey,
        account: str,
        form: dict[str, str],
        request: web.Request,
    ) -> dict[str, Any]:
        to = _field(form, "To")
        body = _field(form, "Body")
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not body:
            raise TwilioError(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY_CHARS:
            raise TwilioError(400, 21617, TOO_LONG_TEXT)
        sender = _field(form, "From")
        callback = _field(form, "StatusCallback")
        if callback:
            try:
                check_url(callback, "StatusCallback")
            except ValidationError:
                raise TwilioError(400, 21609, "Invalid StatusCallback URL.") from None
            if not self.hosts.matches(callback):
                raise TwilioError(400, 21609, CALLBACK_NOT_ALLOWED)
        ttl = _validity(_field(form, "ValidityPeriod"))
        metadata: dict[str, Any] = {COMPAT_KIND: KIND}
        if sender:
            metadata[FROM_KEY] = sender
        if callback:
            spec = {"account_sid": account, "key_id": key.id, "url": callback}
            metadata[COMPAT_REF] = await self.store.save_compat_spec(KIND, spec)
        send = SendRequest(
            to=to,
            body=body,
            ttl=ttl,
            metadata=metadata,
            idempotency_key=request.headers.get(IDEMPOTENCY_HEADER) or None,
        )
        try:
            [result] = await service.submit([send], key, refuse_opted_out=True)
        except OptedOut:
            raise TwilioError(400, ERROR_UNSUBSCRIBED, UNSUBSCRIBED_TEXT) from None
        except InvalidNumber:
            raise TwilioError(400, 21211, "The 'To' number is not a valid phone number.") from None
        except EmptyText:
            raise TwilioError(400, 21602, "Message body is required.") from None
        except TextTooLong as exc:
            raise TwilioError(400, 21617, exc.message) from None
        except Unavailable:
            raise TwilioError(503, 20503, "Service unavailable.") from None
        except TooManyRequests as exc:
            raise TwilioError(429, TOO_MANY_REQUESTS, exc.message, exc.retry_after) from None
        except GatewayError as exc:
            if exc.status >= 500:
                raise
            raise TwilioError(exc.status, 21000 + exc.status, exc.message) from None
        return message_json(result.message, account)

    async def fetch(self, request: web.Request) -> web.StreamResponse:
        try:
            service, key, account = await _authorize(request, Scope.READ)
            message_id = from_sid(request.match_info["Sid"])
            message = (
                await service.store.get_message(message_id, owner=reader(key))
                if message_id
                else None
            )
            if message is None:
                raise TwilioError(404, 20404, "The requested resource was not found")
        except TwilioError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.retry_after)
        return web.json_response(message_json(message, account))

    async def list(self, request: web.Request) -> web.StreamResponse:
        try:
            service, key, account = await _authorize(request, Scope.READ)
            answer = await self._list(request, service, key, account)
        except TwilioError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.retry_after)
        return web.json_response(answer)

    async def _list(
        self, request: web.Request, service: GatewayService, key: ApiKey, account: str
    ) -> dict[str, Any]:
        query = request.query
        size = _int(query.get("PageSize"), DEFAULT_PAGE_SIZE, "PageSize", 1, MAX_PAGE_SIZE)
        page = _int(query.get("Page"), 0, "Page", 0, 1_000_000)
        token = query.get("PageToken") or None
        to = query.get("To")
        flt = MessageFilter(owner=reader(key))
        if to:
            try:
                number = normalize(to, request.app[CONTEXT].default_country)
                flt = MessageFilter(to=number, owner=flt.owner)
            except InvalidNumber:
                raise TwilioError(
                    400, 21211, "The 'To' number is not a valid phone number."
                ) from None
        try:
            found = await service.store.list_messages(flt, cursor=token, limit=size)
        except ValidationError:
            raise TwilioError(400, 20001, "Invalid PageToken.") from None
        path = f"/{API_VERSION}/Accounts/{account}/Messages.json"
        extra = f"&To={to}" if to else ""
        next_uri = None
        if found.next_cursor is not None:
            next_uri = (
                f"{path}?PageSize={size}&Page={page + 1}&PageToken={found.next_cursor}{extra}"
            )
        start = page * size
        return {
            "messages": [message_json(m, account) for m in found.items],
            "end": start + max(len(found.items) - 1, 0),
            "first_page_uri": f"{path}?PageSize={size}&Page=0{extra}",
            "next_page_uri": next_uri,
            "page": page,
            "page_size": size,
            "previous_page_uri": None,
            "start": start,
            "uri": request.path_qs,
        }


# authentication and form fields ------------------------------------------------------


def _basic(request: web.Request) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded or len(encoded) > 1024:
        raise TwilioError(401, 20003, "Authenticate")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise TwilioError(401, 20003, "Authenticate") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise TwilioError(401, 20003, "Authenticate")
    return user, password


async def _authorize(request: web.Request, scope: Scope) -> tuple[GatewayService, ApiKey, str]:
    service = request.app[CONTEXT].service
    account = request.match_info["AccountSid"]
    user, token = _basic(request)
    try:
        key = await request.app[CONTEXT].guard.authenticate(
            service.store, token, request.remote, key_id=key_id_of(user) or user
        )
    except Unauthorized:
        raise TwilioError(401, 20003, "Authenticate") from None
    except Forbidden:
        raise TwilioError(403, 20003, "Permission denied") from None
    except TooManyRequests as exc:
        raise TwilioError(429, TOO_MANY_REQUESTS, exc.message, exc.retry_after) from None
    if not names_key(key, user, account):
        raise TwilioError(401, 20003, "Authenticate")
    if not has_scope(key, scope):
        raise TwilioError(403, 20003, "Permission denied")
    return service, key, account


def names_key(key: ApiKey, user: str, account: str) -> bool:
    """Whether the basic-auth user and the path's AccountSid both name ``key``: as its
    id or AccountSid (``Client(account_sid, token)``), or, for the user, as its ``SK``
    sid (Twilio's API-key form, with the AccountSid in the path)."""
    in_path = not account.startswith(API_KEY) and key_id_of(account) == key.id
    return in_path and key_id_of(user) == key.id


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise TwilioError(415, 20001, "Content-Type must be application/x-www-form-urlencoded")
    try:
        form = await request.post()
    except (ValueError, UnicodeDecodeError):
        raise TwilioError(400, 20001, "Malformed form body.") from None
    return {k: v for k, v in form.items() if isinstance(v, str)}  # files are ignored


def _field(form: dict[str, str], name: str) -> str:
    value = form.get(name, "")
    if len(value) > MAX_FIELD_CHARS:
        raise TwilioError(400, 20001, f"{name} is too long.")
    return value


def _int(raw: str | None, default: int, name: str, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise TwilioError(400, 20001, f"{name} must be an integer from {low} to {high}.")
    return int(raw)


def _validity(raw: str) -> float | None:
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 36000:
        raise TwilioError(400, 21000, "ValidityPeriod must be an integer from 1 to 36000.")
    return float(raw)


# outgoing: status callbacks and the incoming-message format ----------------------------


def status_callbacks(event: WebhookEvent, spec: dict[str, Any]) -> list[tuple[str, bytes]]:
    """The status callback a message asked for, as one outbox payload."""
    message = event.message
    url, key_id = spec.get("url"), spec.get("key_id")
    if message is None or not isinstance(url, str) or not isinstance(key_id, str):
        return []  # no key to sign with (a spec an older version left unreadable)
    status = EVENT_STATUS.get(event.kind) or message_status(message)
    sid = to_sid(message.id)
    params = {
        "AccountSid": spec["account_sid"],
        "ApiVersion": API_VERSION,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": message.to,
        "From": str(message.metadata.get(FROM_KEY, "")),
    }
    if status in ("failed", "undelivered"):
        params["ErrorCode"] = str(error_code(message))
    payload = {"url": url, "key_id": key_id, "params": params}
    return [(TWILIO_CALLBACK, dump_json(payload))]


def incoming_formatter(
    own_number: Callable[[str], str | None],
) -> Callable[[WebhookEvent, Subscription], bytes | None]:
    """``incoming_form`` with ``To`` the receiving modem's own number (``own_number``
    of its name), or its name when that is not known."""

    def form(event: WebhookEvent, sub: Subscription) -> bytes | None:
        return incoming_form(event, sub, own_number)

    return form


def incoming_form(
    event: WebhookEvent,
    sub: Subscription,
    own_number: Callable[[str], str | None] = lambda _modem: None,
) -> bytes | None:
    """Twilio's incoming-message fields for a ``format = "twilio"`` subscription."""
    inbound = event.inbound
    if inbound is None:
        return None
    sid = to_sid(inbound.id)
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": sub.account_sid or "",
        "From": inbound.sender,
        "To": own_number(inbound.modem) or inbound.modem,
        "Body": inbound.text,
        "NumMedia": "0",
        "NumSegments": str(inbound.parts),
        "SmsStatus": "received",
        "ApiVersion": API_VERSION,
    }
    return json.dumps({"params": params}, ensure_ascii=False).encode()
