"""RFC 3339 time stamps as the API, webhooks and the status page write them.

A leaf module: anything that prints a time can import it without loading the HTTP layer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache


def rfc3339(ts: float | None) -> str | None:
    """POSIX seconds as RFC 3339 in UTC with milliseconds: ``2026-11-27T04:23:11.123Z``."""
    return None if ts is None else _rfc3339(ts)


@lru_cache(maxsize=4096)  # a batch shares one created_at; a page shares many
def _rfc3339(ts: float) -> str:
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"
