"""Log setup: a text or JSON formatter, and a backstop that masks phone numbers.

Callers mask numbers and bodies themselves with ``gateway.redact`` before a
logger sees them; that is the mechanism. ``PhoneNumberFilter`` is the backstop:
on the handler, it rewrites anything in a record's text arguments, extras and
traceback that looks like a phone number, in case one slipped through. Numeric
arguments are counts, sizes and codes (we never hold a phone number as an int),
so they are left alone, and so is a figure in text that its context names one (a
unit or counted noun after it, a quantity's name before it, a decimal point). It
cannot recognise a message body, which is why the helpers in ``gateway.redact`` come
first.

The text log is one record per line: a request path, a modem's reply or an
exception message is attacker-influenced, so control characters are escaped
(``\\n``, ``\\x00``) and traceback lines are indented, so nothing can start a
forged record or write a NUL byte into the file.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from aiohttp.http_exceptions import HttpProcessingError

from gateway.redact import redact_number

# A run of 7+ digits standing alone, "+" (or its URL escape %2B) and 7+ digits with
# single separators, or a North American number written with separators. Ids such as
# ``msg_0123456789`` are left alone: a word character before or after the run disqualifies it.
PHONE_RE: Final = re.compile(
    r"(?<![\w+])(?:"
    r"(?:\+|%2[Bb])\d(?:[ \-().]?\d){6,}"
    r"|\(\d{3}\)[ \-.]?\d{3}[ \-.]?\d{4}"
    r"|\d{3}[\-. ]\d{3}[\-. ]\d{4}"
    r"|\d{7,}"
    r")(?!\w)"
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
_HANDLER_MARK: Final = "_smsgw_handler"
TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
TRACEBACK_INDENT: Final = "    "


# A bare run of digits (no "+", no separators) reads as a figure, not a number, when a
# unit or a counted noun follows it, a word naming a quantity precedes it, or it is one
# side of a decimal: ``1000000 message(s)``, ``104857600 bytes``, ``count=2500000``,
# ``1733250000.25``. Anything else (``to=15551234567``, ``sent to 5551234``) is masked.
_UNIT_AFTER: Final = re.compile(
    r" ?(?:%|[KMGT]i?B\b|B\b|bytes?\b|[mun]s\b|µs\b|s\b|secs?\b|seconds?\b|minutes?\b"
    r"|hours?\b|days?\b|/s\b|(?:messages?|records?|rows?|segments?|items?|entries|entry"
    r"|times?|pages?|attempts?|requests?|parts?|texts?|events?|reports?|retries|tries)"
    r"(?:\(s\))?(?!\w))"
)
_QUANTITY_BEFORE: Final = re.compile(
    r"(?:^|[^\w])(?:count|total|size|bytes|rows|rss|seq|limit|length|len|took|elapsed"
    r"|duration|pid|port|offset|version|queued|depth|n)[ =:]{1,2}$",
    re.IGNORECASE,
)
_BEFORE_WINDOW: Final = 12  # characters looked at before a run for a quantity's name


def mask_phone_numbers(text: str) -> str:
    return PHONE_RE.sub(lambda m: _masked_match(m, text), text)


def _masked_match(match: re.Match[str], text: str) -> str:
    found = match.group(0)
    if found.isdigit() and _is_figure(text, match.start(), match.end()):
        return found
    return redact_number(found)


def _is_figure(text: str, start: int, end: int) -> bool:
    """Whether a bare digit run at ``text[start:end]`` reads as a count, size, duration
    or timestamp rather than a phone number."""
    after = text[end : end + 2]
    if after[:1] == "." and after[1:].isdigit():
        return True  # 1733250000.25: a time or a duration
    if start >= 2 and text[start - 1] == "." and text[start - 2].isdigit():
        return True  # the fraction of one
    if _UNIT_AFTER.match(text, end):
        return True
    return _QUANTITY_BEFORE.search(text[max(0, start - _BEFORE_WINDOW) : start]) is not None


def escape_controls(text: str) -> str:
    """``"a\\nb"`` → ``"a\\\\nb"``: one record stays one line, with no raw control bytes."""
    return _CONTROL_RE.sub(lambda m: _ESCAPES.get(m.group(0), f"\\x{ord(m.group(0)):02x}"), text)


class _Masked:
    """An argument of any other type, masked however the format string renders it."""

    __slots__ = ("_value",)

    def __init__(self, value: object) -> None:
        self._value = value

    def __str__(self) -> str:
        return mask_phone_numbers(str(self._value))

    def __repr__(self) -> str:
        return mask_phone_numbers(repr(self._value))


def _mask_arg(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value  # a count, size or code: never a phone number
    if isinstance(value, str):
        return mask_phone_numbers(value)
    return _Masked(value)


def _masked_message(record: logging.LogRecord) -> str:
    template = mask_phone_numbers(str(record.msg))
    args = record.args
    if not args:
        return template
    masked: tuple[object, ...] | Mapping[str, object]
    if isinstance(args, Mapping):
        masked = {key: _mask_arg(value) for key, value in args.items()}
    else:
        masked = tuple(_mask_arg(value) for value in args)
    try:
        return template % masked
    except (TypeError, ValueError, KeyError):  # e.g. %d given an object: mask the whole line
        return mask_phone_numbers(record.getMessage())


class PhoneNumberFilter(logging.Filter):
    """Backstop: mask number-like runs in the message, string extras and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        _drop_request_content(record)
        record.msg = _masked_message(record)
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, _masked_extra(key, value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phone_numbers(record.exc_text)
        return True


def _masked_extra(key: str, value: str) -> str:
    """An extra is masked as it is written, ``key=value``: its name is its context."""
    head = f"{key}="
    return mask_phone_numbers(head + value)[len(head) :]


def _drop_request_content(record: logging.LogRecord) -> None:
    """aiohttp logs a request it cannot parse with the raw request line or header in the
    exception's text (``GET /cgi-bin/sendsms?to=%2B1...&text=...``): keep only its class."""
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, HttpProcessingError):
        record.msg = f"{record.getMessage()} ({type(exc).__name__}, status {exc.code})"
        record.args = None
        record.exc_info = None
        record.exc_text = None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_") and key not in out:
                out[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``ts level logger: message key=value ...`` with ``extra=`` fields appended."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indented(super().formatStack(stack_info))

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_text and not record.exc_text.startswith(TRACEBACK_INDENT):
            record.exc_text = _indented(record.exc_text)  # made unindented by the filter
        line = super().format(record)
        extras = [
            f"{key}={escape_controls(str(value))}"
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRS and not key.startswith("_")
        ]
        if not extras:
            return line
        head, sep, tail = line.partition("\n")
        return f"{head} {' '.join(extras)}{sep}{tail}"


def _indented(text: str) -> str:
    return "\n".join(TRACEBACK_INDENT + escape_controls(line) for line in text.splitlines())


def setup_logging(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Configure the root logger once per process (calling again replaces our handler)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(PhoneNumberFilter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _HANDLER_MARK, False):
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)
    root.setLevel(level.upper())
