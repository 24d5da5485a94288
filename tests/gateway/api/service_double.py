"""A GatewayService without modems over the real store, for the API tests.

It applies the same meaning checks the daemon does (numbers, empty text,
segment limit) so error codes from the service side can be exercised.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence

from drivers.pdu import segments
from gateway.config import ApiSettings
from gateway.core.numbers import normalize
from gateway.core.service import ModemStatus, SendRequest
from gateway.core.waiting import Waiting
from gateway.errors import EmptyText, TextTooLong
from gateway.ids import new_id
from gateway.store.base import AddResult, ApiKey, Message, NewMessage, Store


class ServiceDouble:
    def __init__(self, store: Store, api: ApiSettings, *, default_country: str = "1") -> None:
        self.store = store
        self.api = api
        self.default_country = default_country
        self.ready = True
        self.modem_list: list[ModemStatus] = []

    async def submit(
        self,
        requests: Sequence[SendRequest],
        api_key: ApiKey | None,
        *,
        refuse_opted_out: bool = False,
    ) -> list[AddResult]:
        now = time.time()
        new = [self._prepare(r, api_key, now) for r in requests]
        return await self.store.add_messages(new)

    def _prepare(self, request: SendRequest, api_key: ApiKey | None, now: float) -> NewMessage:
        prefix = request.field_prefix
        to = normalize(request.to, self.default_country, field=prefix + "to")
        if not request.body.strip():
            raise EmptyText("body must not be empty", field=prefix + "body")
        encoding, count = segments(request.body)
        if count > self.api.max_segments:
            raise TextTooLong(
                f"text needs {count} segments; the limit is {self.api.max_segments}",
                field=prefix + "body",
            )
        send_at = request.send_at if request.send_at is not None else now
        fingerprint = [
            to,
            request.body,
            request.priority,
            request.send_at,
            request.ttl,
            request.tags,
            request.metadata,
            request.request_report,
        ]
        return NewMessage(
            id=new_id("msg"),
            to=to,
            body=request.body,
            priority=request.priority,
            send_at=send_at,
            expires_at=None if request.ttl is None else send_at + request.ttl,
            encoding=encoding.value,
            segment_count=count,
            concat_ref=0,
            request_report=request.request_report,
            route=None,
            tags=request.tags,
            metadata=request.metadata,
            idempotency_key=request.idempotency_key,
            api_key_id=None if api_key is None else api_key.id,
            request_hash=hashlib.sha256(
                json.dumps(fingerprint, sort_keys=True).encode()
            ).hexdigest(),
        )

    async def cancel(
        self, message_id: str, *, owner: str | None = None, actor: str = "api"
    ) -> Message:
        del actor  # the double keeps no audit trail
        return await self.store.cancel_message(message_id, owner=owner)

    def modems(self) -> list[ModemStatus]:
        return list(self.modem_list)

    def waiting(self, message_id: str) -> Waiting | None:
        return None

    def is_ready(self) -> bool:
        return self.ready

    def not_ready_reason(self) -> str | None:
        return None if self.ready else "not ready (set by the test)"
