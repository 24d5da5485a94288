"""Where events come from: the fan-out the store calls inside each notifying change.

:class:`EventFanout` implements the store's :class:`~gateway.store.base.Fanout`:
given a change (a message sent, delivered or failed, an inbound text, a modem up
or down) it names every receiver that wants it and the payload each gets. The
store writes those rows in the change's own transaction, so it runs on the
store's writer thread: it reads the registry's immutable snapshot and the pure
builders below, nothing else.

Messages sent through a compatibility endpoint carry ``compat_ref`` in their
metadata; the callback builder registered for their ``compat`` kind turns the
event into a status callback or a delivery report for the URL they gave.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from gateway.config import EventKind
from gateway.store.base import Change, Notice
from gateway.store.sealing import dump_json
from gateway.webhooks.events import (
    WebhookEvent,
    consent_event,
    envelope,
    inbound_event,
    message_event,
    modem_event,
    reply_event,
    secure_event,
)
from gateway.webhooks.subscriptions import Registry, Subscription

COMPAT_KIND: Final = "compat"
COMPAT_REF: Final = "compat_ref"

# (event, subscription) -> payload bytes, for a subscription format other than smsgw
Formatter = Callable[[WebhookEvent, Subscription], bytes | None]
# (event, stored spec) -> [(receiver, payload)], for a compat kind
CallbackBuilder = Callable[[WebhookEvent, dict[str, Any]], list[tuple[str, bytes]]]


def to_event(change: Change) -> WebhookEvent | None:
    kind = EventKind(change.kind)
    if change.secure is not None and change.number_hash is not None:
        return secure_event(kind, change.secure, change.number_hash, change.at, change.inbound)
    if change.reply is not None and change.message is not None and change.number_hash is not None:
        return reply_event(change.message, change.reply, change.number_hash, change.at)
    if change.message is not None and change.number_hash is not None:
        return message_event(kind, change.message, change.number_hash, change.at)
    if change.inbound is not None and change.number_hash is not None:
        return inbound_event(change.inbound, change.number_hash, change.at)
    if change.suppression is not None and change.number_hash is not None:
        return consent_event(kind, change.suppression, change.number_hash, change.at)
    if change.modem is not None:
        reason = (change.detail or {}).get("reason")
        return modem_event(
            kind, change.modem, reason if isinstance(reason, str) else None, change.at
        )
    return None


class EventFanout:
    """Turns changes into outbox rows for every receiver that wants them."""

    def __init__(
        self,
        registry: Registry,
        *,
        formatters: Mapping[str, Formatter] | None = None,
        callbacks: Mapping[str, CallbackBuilder] | None = None,
    ) -> None:
        self._registry = registry
        self._formatters: dict[str, Formatter] = dict(formatters or {})
        self._callbacks: dict[str, CallbackBuilder] = dict(callbacks or {})

    def wants(self, kind: str, metadata: Mapping[str, Any]) -> bool:
        if self._registry.for_kind(EventKind(kind)):
            return True
        compat = metadata.get(COMPAT_KIND)
        return isinstance(compat, str) and compat in self._callbacks and COMPAT_REF in metadata

    def notices(self, change: Change, spec: Callable[[str], dict[str, Any] | None]) -> list[Notice]:
        event = to_event(change)
        if event is None:
            return []
        payloads: list[tuple[str, Callable[[str], bytes]]] = []
        for sub in self._registry.for_kind(event.kind):
            if sub.format == "smsgw":
                payloads.append((sub.id, lambda row_id: dump_json(envelope(row_id, event))))
                continue
            formatter = self._formatters.get(sub.format)
            body = formatter(event, sub) if formatter is not None else None
            if body is not None:
                payloads.append((sub.id, _constant(body)))
        payloads.extend((receiver, _constant(body)) for receiver, body in self._compat(event, spec))
        return [
            Notice(receiver, event.kind.value, event.order_key, event.source, body)
            for receiver, body in payloads
        ]

    def _compat(
        self, event: WebhookEvent, spec: Callable[[str], dict[str, Any] | None]
    ) -> list[tuple[str, bytes]]:
        message = event.message
        if message is None:
            return []
        kind, ref = message.metadata.get(COMPAT_KIND), message.metadata.get(COMPAT_REF)
        builder = self._callbacks.get(kind) if isinstance(kind, str) else None
        if builder is None or not isinstance(ref, str):
            return []
        found = spec(ref)
        return builder(event, found) if found is not None else []


def _constant(body: bytes) -> Callable[[str], bytes]:
    return lambda _row_id: body
