"""Outbox rows written inside the transaction of the change that causes them.

A write job that may notify gets a :class:`Notifier` bound to its connection. It
asks the injected :class:`~gateway.store.base.Fanout` whether anyone wants the
change before building anything, builds the event from the rows as this
transaction sees them, and writes one sealed row per receiver. ``written``
tells the store, after the commit, whether to wake the dispatcher.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from gateway.crypto import KeyRing
from gateway.ids import new_id
from gateway.store import compat, messages, outbox, secure_messages
from gateway.store.base import (
    INBOUND_RECEIVED,
    MESSAGE_CHANGES,
    MODEM_CHANGES,
    REPLY_MATCHED,
    Change,
    Fanout,
    Inbound,
    MessageState,
    Reply,
    Suppression,
)
from gateway.store.sealing import aad


class Notifier:
    def __init__(self, conn: sqlite3.Connection, keyring: KeyRing, fanout: Fanout | None) -> None:
        self._conn = conn
        self._keyring = keyring
        self._fanout = fanout
        self.written = 0

    def message(self, message_id: str, state: MessageState | None) -> None:
        """The message now in ``state``: notify when that state is one that does."""
        kind = MESSAGE_CHANGES.get(state) if state is not None else None
        if kind is None or self._fanout is None:
            return
        if not self._fanout.wants(kind, self._metadata(message_id)):
            return
        message = messages.load_message(self._conn, self._keyring, message_id)
        if message is None or message.state is not state:
            return
        number_hash = self._keyring.lookup_hash(message.to)
        self._write(Change(kind, time.time(), number_hash=number_hash, message=message))

    def inbound(self, inbound: Inbound) -> None:
        if self._fanout is None or not self._fanout.wants(INBOUND_RECEIVED, {}):
            return
        number_hash = self._keyring.lookup_hash(inbound.sender)
        self._write(Change(INBOUND_RECEIVED, time.time(), number_hash=number_hash, inbound=inbound))

    def reply(self, message_id: str, reply: Reply) -> None:
        """``reply.matched``: the message, as it reads with its answer, and the answer."""
        if self._fanout is None or not self._fanout.wants(REPLY_MATCHED, {}):
            return
        message = messages.load_message(self._conn, self._keyring, message_id)
        if message is None:
            return
        number_hash = self._keyring.lookup_hash(message.to)
        self._write(
            Change(
                REPLY_MATCHED, time.time(), number_hash=number_hash, message=message, reply=reply
            )
        )

    def consent(self, kind: str, suppression: Suppression) -> None:
        """``consent.opted_out`` / ``consent.opted_in`` for one entry of the list."""
        if self._fanout is None or not self._fanout.wants(kind, {}):
            return
        number_hash = self._keyring.lookup_hash(suppression.number)
        self._write(Change(kind, time.time(), number_hash=number_hash, suppression=suppression))

    def secure(self, kind: str, secure_id: str, inbound: Inbound | None = None) -> None:
        """``secure.read`` / ``secure.answered`` (with the answer) / ``secure.locked``."""
        if self._fanout is None or not self._fanout.wants(kind, {}):
            return
        record = secure_messages.load(self._conn, self._keyring, secure_id)
        number_hash = self._keyring.lookup_hash(record.to)
        self._write(
            Change(kind, time.time(), number_hash=number_hash, secure=record, inbound=inbound)
        )

    def modem(self, kind: str, modem: str | None, detail: Mapping[str, Any]) -> None:
        if kind not in MODEM_CHANGES or modem is None or self._fanout is None:
            return
        if self._fanout.wants(kind, {}):
            self._write(Change(kind, time.time(), modem=modem, detail=detail))

    def _metadata(self, message_id: str) -> Mapping[str, Any]:
        row = self._conn.execute(
            "SELECT metadata_enc FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        if row is None or row[0] is None:
            return {}
        opened = self._keyring.open(row[0], aad=aad("messages", "metadata", message_id))
        found: dict[str, Any] = json.loads(opened)
        return found

    def _write(self, change: Change) -> None:
        assert self._fanout is not None
        conn, keyring = self._conn, self._keyring
        notices = self._fanout.notices(change, lambda ref: compat.load_spec(conn, keyring, ref))
        rows = []
        for notice in notices:
            row_id = new_id("whd")
            rows.append(
                outbox.NewRow(
                    id=row_id,
                    created_at=change.at,
                    subscriber=notice.receiver,
                    kind=notice.kind,
                    payload_enc=keyring.seal(notice.body(row_id), aad=outbox.payload_aad(row_id)),
                    order_key=notice.order_key,
                    source=notice.source,
                )
            )
        self.written += outbox.insert(conn, rows)
