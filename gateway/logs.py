"""Log setup: a text or JSON formatter, and a backstop that masks phone numbers.

Callers mask numbers and bodies themselves with ``gateway.redact`` before a
logger sees them; that is the mechanism. ``PhoneNumberFilter`` is the backstop:
on the handler, it rewrites anything in a finished record that looks like a
phone number, in case one slipped through. It cannot recognise a message body,
which is why the helpers in ``gateway.redact`` come first.
"""

from __future__ import annotations

import json
import logging
import re
import sys
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


def mask_phone_numbers(text: str) -> str:
    return PHONE_RE.sub(lambda m: redact_number(m.group(0)), text)


class PhoneNumberFilter(logging.Filter):
    """Backstop: mask number-like runs in the message, string extras and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        _drop_request_content(record)
        message = record.getMessage()
        masked = mask_phone_numbers(message)
        if masked != message:
            record.msg = masked
            record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, mask_phone_numbers(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phone_numbers(record.exc_text)
        return True


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

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [
            f"{key}={value}"
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRS and not key.startswith("_")
        ]
        if not extras:
            return line
        head, sep, tail = line.partition("\n")
        return f"{head} {' '.join(extras)}{sep}{tail}"


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
