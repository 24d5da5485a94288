"""Shape checks for request bodies and query strings.

The API checks *shape* (types, unknown fields, sizes, empty text); the service
checks *meaning* (numbers, segment counts, routing). Error messages name the
field and never repeat its value: values may be phone numbers or texts.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, NoReturn

from multidict import MultiMapping

from gateway.config import ApiSettings
from gateway.core.service import SendRequest
from gateway.errors import (
    BatchTooLarge,
    EmptyText,
    InvalidJson,
    InvalidNumber,
    InvalidPriority,
    InvalidTime,
    UnknownField,
    ValidationError,
)
from gateway.http.reply_fields import REPLY_FIELDS, parse_replies, parse_reply_window
from gateway.store.base import MessageState, Priority

MAX_NUMBER_CHARS: Final = 64
MAX_TAGS: Final = 20
MAX_TAG_CHARS: Final = 64
MAX_METADATA_BYTES: Final = 4096  # serialised JSON; it is stored (encrypted) with every message
MAX_IDEMPOTENCY_KEY_CHARS: Final = 200
MAX_TTL_SECONDS: Final = 30 * 86_400
MAX_CURSOR_CHARS: Final = 512
MAX_ID_CHARS: Final = 100
MAX_CATEGORY_CHARS: Final = 32  # as gateway.config names them
DEFAULT_PAGE_LIMIT: Final = 50
MAX_PAGE_LIMIT: Final = 500
# The defaults the documented limits quote ([server] max_batch and max_segments).
DEFAULT_MAX_BATCH: Final = ApiSettings().max_batch
DEFAULT_MAX_SEGMENTS: Final = ApiSettings().max_segments
GSM7_CONCAT_CHARS: Final = 153  # characters a segment of a long text holds (8-bit reference)
UCS2_CONCAT_CHARS: Final = 67

SEND_FIELDS: Final = frozenset(
    {
        "to",
        "body",
        "priority",
        "send_at",
        "ttl",
        "idempotency_key",
        "tags",
        "metadata",
        "request_report",
        "category",
    }
    | REPLY_FIELDS
)
BATCH_FIELDS: Final = frozenset({"messages"})
PRIORITIES: Final = {p.name.lower(): p for p in Priority}

# RFC 3339 section 5.6 date-time; fromisoformat alone would also take ISO forms
# (week dates, basic format, no offset) that clients in other languages cannot produce.
_RFC3339: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


# Cursors are opaque, but every one the store issues is made of URL-unreserved characters.
_CURSOR: Final = re.compile(r"[A-Za-z0-9._~=-]+")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(
            raw.decode("utf-8"),
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            object_pairs_hook=_refuse_duplicates,
        )
    except _DuplicateKey as exc:
        raise InvalidJson(f"request body repeats the key {exc.key!r} in one object") from None
    # ValueError: also an integer literal longer than Python converts (int_max_str_digits).
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidJson("request body is not valid UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise ValidationError("request body must be a JSON object")
    return value


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Two parsers may disagree on which of two equal keys wins: refuse, don't guess."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key[:64])
            seen.add(key)
    return obj


def _finite_float(text: str) -> float:
    """``1e400`` would be infinity, which no strict JSON can carry back to the client."""
    value = float(text)
    if not math.isfinite(value):
        raise json.JSONDecodeError("number out of range", text, 0)
    return value


def _refuse_constant(name: str) -> NoReturn:
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


def parse_send(obj: object, prefix: str, *, header_key: str | None = None) -> SendRequest:
    """One message object; ``prefix`` ("messages[3].") goes in front of every field name."""
    if not isinstance(obj, dict):
        raise ValidationError("message must be a JSON object", field=prefix.rstrip(".") or None)
    if not SEND_FIELDS.issuperset(obj):
        _refuse_unknown(obj, SEND_FIELDS, prefix)
    to = _required_str(obj, "to", prefix)
    if not to.strip() or len(to) > MAX_NUMBER_CHARS:
        raise InvalidNumber(
            f"to must be a phone number of at most {MAX_NUMBER_CHARS} characters",
            field=prefix + "to",
        )
    body = _required_str(obj, "body", prefix)
    if not body.strip():
        raise EmptyText("body must not be empty", field=prefix + "body")
    # Absent optional fields skip their checkers: a batch item usually has two or three fields.
    get = obj.get
    send_at, ttl, metadata = get("send_at"), get("ttl"), get("metadata")
    idempotency_key, report = get("idempotency_key"), get("request_report")
    category = get("category")
    return SendRequest(
        to=to,
        body=body,
        priority=_priority(get("priority"), prefix),
        send_at=None if send_at is None else _optional_time(send_at, prefix + "send_at"),
        ttl=None if ttl is None else _ttl(ttl, prefix),
        idempotency_key=None
        if idempotency_key is None and header_key is None
        else _idempotency_key(idempotency_key, header_key, prefix),
        tags=_tags(get("tags"), prefix),
        metadata={} if metadata is None else _metadata(metadata, prefix),
        request_report=True
        if report is None
        else _optional_bool(report, prefix + "request_report", True),
        category=None if category is None else category_name(category, prefix + "category"),
        field_prefix=prefix,
        replies=parse_replies(get("replies"), prefix),
        reply_window=parse_reply_window(get("reply_window"), prefix),
    )


def category_name(value: object, field: str) -> str:
    """A category's shape; whether it is configured is the service's to say."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_CATEGORY_CHARS:
        raise ValidationError(
            f"category must be a string of 1 to {MAX_CATEGORY_CHARS} characters", field=field
        )
    return value


def parse_batch(obj: dict[str, Any], max_batch: int) -> list[SendRequest]:
    _refuse_unknown(obj, BATCH_FIELDS, "")
    items = obj.get("messages")
    if not isinstance(items, list):
        raise ValidationError("messages must be an array of message objects", field="messages")
    if not items:
        raise ValidationError("messages must not be empty", field="messages")
    if len(items) > max_batch:
        raise BatchTooLarge(f"a batch holds at most {max_batch} messages", field="messages")
    return [parse_send(item, f"messages[{i}].") for i, item in enumerate(items)]


def _refuse_unknown(obj: Mapping[str, Any], allowed: frozenset[str], prefix: str) -> None:
    for name in obj:
        if name not in allowed:
            # The name is the client's own key, not PHI; cap it so a log line stays small.
            raise UnknownField("unknown field", field=prefix + name[:64])


def _required_str(obj: Mapping[str, Any], name: str, prefix: str) -> str:
    value = obj.get(name)
    if type(value) is str:
        return value
    if value is None:
        raise ValidationError(f"{name} is required", field=prefix + name)
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", field=prefix + name)
    return value


def _priority(value: object, prefix: str) -> Priority:
    if value is None:
        return Priority.NORMAL
    if not isinstance(value, str):
        raise ValidationError("priority must be a string", field=prefix + "priority")
    try:
        return PRIORITIES[value]
    except KeyError:
        raise InvalidPriority(
            "priority must be one of: " + ", ".join(PRIORITIES), field=prefix + "priority"
        ) from None


def parse_time(value: str, field: str) -> float:
    """RFC 3339 date-time with an offset → POSIX seconds."""
    if len(value) > 40 or not _RFC3339.fullmatch(value):
        raise InvalidTime(
            f"{field} must be an RFC 3339 date-time with an offset, e.g. 2026-01-31T09:30:00Z",
            field=field,
        )
    normal = value.upper().replace(" ", "T").replace("Z", "+00:00")
    fraction = re.search(r"\.([0-9]+)", normal)
    if fraction is not None and len(fraction.group(1)) > 6:  # fromisoformat stops at micros
        normal = normal.replace(fraction.group(1), fraction.group(1)[:6], 1)
    try:
        return datetime.fromisoformat(normal).timestamp()
    except ValueError:
        raise InvalidTime(f"{field} is not a valid date-time", field=field) from None


def _optional_time(value: object, field: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be an RFC 3339 string", field=field)
    return parse_time(value, field)


def _ttl(value: object, prefix: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 60.0 is an integer in JSON Schema, as in JSON
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("ttl must be an integer number of seconds", field=prefix + "ttl")
    if not 1 <= value <= MAX_TTL_SECONDS:
        raise InvalidTime(
            f"ttl must be between 1 and {MAX_TTL_SECONDS} seconds", field=prefix + "ttl"
        )
    return float(value)


def _idempotency_key(value: object, header_key: str | None, prefix: str) -> str | None:
    field = prefix + "idempotency_key"
    if value is not None and not isinstance(value, str):
        raise ValidationError("idempotency_key must be a string", field=field)
    if value is not None and header_key is not None and value != header_key:
        raise ValidationError("idempotency_key and the Idempotency-Key header differ", field=field)
    key = value if value is not None else header_key
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_CHARS:
        raise ValidationError(
            f"idempotency_key must have 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters", field=field
        )
    return key


def _tags(value: object, prefix: str) -> tuple[str, ...]:
    if value is None:
        return ()
    field = prefix + "tags"
    if not isinstance(value, list):
        raise ValidationError("tags must be an array of strings", field=field)
    if len(value) > MAX_TAGS:
        raise ValidationError(f"at most {MAX_TAGS} tags", field=field)
    for i, tag in enumerate(value):
        if not isinstance(tag, str) or not 1 <= len(tag) <= MAX_TAG_CHARS:
            raise ValidationError(
                f"each tag must be a string of 1 to {MAX_TAG_CHARS} characters",
                field=f"{field}[{i}]",
            )
    return tuple(value)


def _metadata(value: object, prefix: str) -> dict[str, Any]:
    if value is None:
        return {}
    field = prefix + "metadata"
    if not isinstance(value, dict):
        raise ValidationError("metadata must be a JSON object", field=field)
    if len(json.dumps(value, ensure_ascii=False).encode("utf-8")) > MAX_METADATA_BYTES:
        raise ValidationError(f"metadata must be at most {MAX_METADATA_BYTES} bytes", field=field)
    return value


def _optional_bool(value: object, field: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValidationError(f"{field} must be true or false", field=field)
    return value


# query strings -----------------------------------------------------------------


def query_params(query: MultiMapping[str], allowed: frozenset[str]) -> dict[str, str]:
    """Single-valued query parameters; unknown names are refused so typos do not widen a list."""
    params: dict[str, str] = {}
    for name, value in query.items():
        if name not in allowed:
            raise UnknownField("unknown query parameter", field=name[:64])
        if name in params:
            raise ValidationError(f"{name} given more than once", field=name)
        params[name] = value
    return params


def page_limit(params: Mapping[str, str]) -> int:
    raw = params.get("limit")
    if raw is None:
        return DEFAULT_PAGE_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_LIMIT:
        raise ValidationError(f"limit must be an integer from 1 to {MAX_PAGE_LIMIT}", field="limit")
    return int(raw)


def page_cursor(params: Mapping[str, str]) -> str | None:
    raw = params.get("cursor")
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_CURSOR_CHARS or not _CURSOR.fullmatch(raw):
        raise ValidationError("cursor is not one this server issued", field="cursor")
    return raw


def message_state(raw: str | None) -> MessageState | None:
    if raw is None:
        return None
    try:
        return MessageState(raw)
    except ValueError:
        raise ValidationError(
            "state must be one of: " + ", ".join(s.value for s in MessageState), field="state"
        ) from None
