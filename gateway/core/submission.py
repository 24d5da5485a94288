"""Turning a send request into a message ready to persist: the service's rules of meaning.

Every entry point (``/v1``, the Twilio and Kannel shapes, the CLI) reaches the
daemon through ``GatewayService.submit``, which applies these rules to each item
before anything is stored, so a batch is accepted whole or not at all. Error
messages never repeat the number or the text; ``field`` names the bad field.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from typing import Final

from drivers import pdu as pdu_codec
from drivers.errors import DriverError
from gateway.config import CARE, DEFAULT_CATEGORIES
from gateway.core.numbers import normalize
from gateway.core.replies import DEFAULT_REPLY_WINDOW, check_replies
from gateway.core.routing import Router
from gateway.core.service import SendRequest
from gateway.errors import EmptyText, InvalidText, InvalidTime, TextTooLong, ValidationError
from gateway.ids import new_id
from gateway.store.base import ApiKey, ExpectedReplies, NewMessage

CONCAT_REFERENCES: Final = 256  # 8-bit references, as handsets use: 153/67 chars a segment
_ENCODING_NAMES: Final = {e: e.value for e in pdu_codec.Encoding}
# C0 controls, DEL and C1 controls, except tab, line feed, form feed and carriage return,
# which a text may carry. GSM-7 would send NUL as "@"; the others show as nothing or as
# boxes.
_CONTROL: Final = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


class ConcatReferences:
    """8-bit concatenation references handed out in turn, from a random start.

    A phone reassembles a long text by (sender, reference, total): two long texts to one
    patient from one modem collide only if 256 other long texts were accepted between
    them, far rarer than with a random pick. The turn is the gateway's, not a modem's: the
    reference is fixed at accept time, so a resend after a crash keeps it.
    """

    __slots__ = ("_next",)

    def __init__(self, rng: random.Random) -> None:
        self._next = rng.randrange(CONCAT_REFERENCES)

    def next(self) -> int:
        reference = self._next
        self._next = (reference + 1) % CONCAT_REFERENCES
        return reference


@dataclass(frozen=True, slots=True)
class SubmissionRules:
    default_country: str  # calling code for national numbers ("1", "44")
    max_segments: int
    router: Router
    categories: frozenset[str] = frozenset(DEFAULT_CATEGORIES)  # [categories.NAME]


def request_fingerprint(to: str, request: SendRequest) -> str:
    """What an idempotent retry must repeat exactly (kept as a hash, never in clear)."""
    shape = {
        "to": to,
        "body": request.body,
        "priority": int(request.priority),
        "send_at": request.send_at,
        "ttl": request.ttl,
        "tags": list(request.tags),
        "metadata": request.metadata,
        "request_report": request.request_report,
        "category": request.category,
    }
    if request.replies is not None:  # only then: earlier fingerprints stay as they were
        shape["replies"] = dict(request.replies)
        shape["reply_window"] = request.reply_window
    blob = json.dumps(shape, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def prepare_message(
    request: SendRequest,
    rules: SubmissionRules,
    *,
    now: float,
    api_key: ApiKey | None,
    references: ConcatReferences,
) -> NewMessage:
    """Validate one request and fill every field of the message; raises ValidationError.

    The segment count comes from planning the text with the message's own concat
    reference (8-bit; messages stored with a 16-bit one keep it), so the stored count
    is exactly what the modem will send; the PDUs themselves are built at send time.
    The fingerprint is only kept when an idempotency key can be compared with it.
    """
    prefix = request.field_prefix
    to = normalize(request.to, rules.default_country, field=f"{prefix}to")
    check_text(request.body, f"{prefix}body")
    reference = references.next()
    route = rules.router.route_for(to)
    try:
        encoding, count = pdu_codec.segments(
            request.body, reference=reference, national=rules.router.national_language(route)
        )
    except DriverError:
        raise ValidationError("text cannot be encoded as SMS", field=f"{prefix}body") from None
    if count > rules.max_segments:
        raise TextTooLong(
            f"text needs {count} segments; at most {rules.max_segments} are allowed",
            field=f"{prefix}body",
        )
    if request.ttl is not None and request.ttl <= 0:
        raise InvalidTime("ttl must be positive", field=f"{prefix}ttl")
    send_at = max(now, request.send_at) if request.send_at is not None else now
    category = _category(request, rules, api_key)
    return NewMessage(
        id=new_id("msg"),
        to=to,
        body=request.body,
        priority=request.priority,
        send_at=send_at,
        expires_at=send_at + request.ttl if request.ttl is not None else None,
        encoding=_ENCODING_NAMES[encoding],
        segment_count=count,
        concat_ref=reference,
        request_report=request.request_report,
        route=route,
        tags=request.tags,
        metadata=request.metadata,
        idempotency_key=request.idempotency_key,
        api_key_id=api_key.id if api_key is not None else None,
        request_hash=None if request.idempotency_key is None else request_fingerprint(to, request),
        category=category,
        replies=_expected_replies(request),
    )


def check_text(text: str, field: str) -> None:
    """Refuse what no handset shows: a blank text, a control character (NUL goes out as @)."""
    if not text.strip():  # blank on the handset, from every endpoint
        raise EmptyText("text is empty", field=field)
    control = _CONTROL.search(text)
    if control is not None:
        raise InvalidText(
            f"text holds control character U+{ord(control.group(0)):04X} "
            f"at position {control.start()}",
            field=field,
        )


def national_language_for(to: str, rules: SubmissionRules, *, field: str) -> str | None:
    """The national table the send path would offer the codec for a message to ``to``."""
    router = rules.router
    return router.national_language(
        router.route_for(normalize(to, rules.default_country, field=field))
    )


def _expected_replies(request: SendRequest) -> ExpectedReplies | None:
    if request.replies is None:  # a window alone means nothing: no answer is awaited
        return None
    check_replies(request.replies, f"{request.field_prefix}replies")
    window = DEFAULT_REPLY_WINDOW if request.reply_window is None else request.reply_window
    return ExpectedReplies(dict(request.replies), window)


def _category(request: SendRequest, rules: SubmissionRules, api_key: ApiKey | None) -> str:
    """The request's category, else its key's default; either must be configured."""
    category = request.category
    if category is None:
        category = api_key.default_category if api_key is not None else CARE
    if category not in rules.categories:
        known = ", ".join(sorted(rules.categories))
        raise ValidationError(
            f"category {category!r} is not configured (known: {known})",
            field=f"{request.field_prefix}category",
        )
    return category
