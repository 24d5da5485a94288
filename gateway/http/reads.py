"""Reads of patient data, written to the audit trail: the compliance officer's first
question is who read which patient's messages.

An entry names the API key and the ids read, never a body or number. It is written
before the answer leaves, so a read the trail could not record is not served. A
listing that returned nothing read nothing and is not recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aiohttp import web

from gateway.http.context import API_KEY, CONTEXT

MESSAGE_READ: Final = "message.read"
INBOUND_READ: Final = "inbound.read"


async def record_read(
    request: web.Request, action: str, ids: Sequence[str], *, subject: str | None = None
) -> None:
    if not ids:
        return
    store = request.app[CONTEXT].service.store
    await store.audit(request[API_KEY].id, action, {"ids": list(ids)}, subject=subject)
