"""How one outbox row becomes one HTTP request, by the shape its receiver expects.

``smsgw``: the sealed payload *is* the JSON body, signed with ``Smsgw-Signature``.
``twilio``: form fields, signed as Twilio signs its webhooks (``X-Twilio-Signature``
is base64 HMAC-SHA1 of the URL followed by each field name and value, names sorted,
keyed with the auth token; for a per-message callback, the API key's callback secret).
``kannel``: a GET of a URL whose escapes were filled in
when the event happened.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlencode

from gateway.webhooks import signing

TWILIO_SIGNATURE_HEADER: Final = "X-Twilio-Signature"
USER_AGENT: Final = "smsgw-webhooks/1"

# Outbox receivers that are not subscriptions: per-message callbacks.
TWILIO_CALLBACK: Final = "cb:twilio"
KANNEL_DLR: Final = "cb:kannel"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    body: bytes | None
    headers: dict[str, str] = field(default_factory=dict)


def twilio_signature(token: str, url: str, params: Mapping[str, str]) -> str:
    text = url + "".join(name + params[name] for name in sorted(params))
    mac = hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def smsgw_request(url: str, secret: bytes, body: bytes, kind: str, row_id: str) -> HttpRequest:
    return HttpRequest(
        "POST",
        url,
        body,
        {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            signing.SIGNATURE_HEADER: signing.sign(secret, body),
            signing.EVENT_HEADER: kind,
            signing.DELIVERY_HEADER: row_id,
        },
    )


def twilio_request(url: str, token: str, params: Mapping[str, str]) -> HttpRequest:
    return HttpRequest(
        "POST",
        url,
        urlencode(params).encode(),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": USER_AGENT,
            TWILIO_SIGNATURE_HEADER: twilio_signature(token, url, params),
        },
    )


def callback_request(
    receiver: str, payload: bytes, callback_secret: Callable[[str], str]
) -> HttpRequest:
    """A per-message callback row: its payload names the URL (and, for Twilio, the API
    key whose ``callback_secret`` signs it)."""
    spec = json.loads(payload)
    if receiver == TWILIO_CALLBACK:
        return twilio_request(spec["url"], callback_secret(spec["key_id"]), spec["params"])
    if receiver == KANNEL_DLR:
        return HttpRequest("GET", spec["url"], None, {"User-Agent": USER_AGENT})
    raise ValueError(f"unknown receiver {receiver}")
