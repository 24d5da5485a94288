"""The ``Smsgw-Signature`` header: HMAC-SHA256 over the timestamp and the exact body.

Header: ``Smsgw-Signature: t=<unix seconds>,v1=<hex>`` where the hex is
``HMAC-SHA256(secret, f"{t}.".encode() + body)``. A subscriber recomputes it over
the raw body bytes (before any JSON parsing), compares in constant time, and
refuses a timestamp outside its replay window. Several ``v1=`` values may appear
while a secret is being rotated; any one matching is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Final

SIGNATURE_HEADER: Final = "Smsgw-Signature"
EVENT_HEADER: Final = "Smsgw-Event"
DELIVERY_HEADER: Final = "Smsgw-Delivery"
SCHEME: Final = "v1"
REPLAY_WINDOW: Final = 300.0  # seconds either side of the subscriber's clock


def compute(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, *, timestamp: int | None = None) -> str:
    """The header value for ``body``."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},{SCHEME}={compute(secret, t, body)}"


def verify(
    secret: bytes,
    header: str,
    body: bytes,
    *,
    now: float | None = None,
    window: float = REPLAY_WINDOW,
) -> bool:
    """The documented check: a well-formed header, a fresh timestamp, a matching MAC."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if name == "t":
            if not value.isascii() or not value.isdigit():
                return False
            timestamp = int(value)
        elif name == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > window:
        return False
    expected = compute(secret, timestamp, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)
