"""Broadcasts and their recipient rows: SQL, sealing, and the store's side of expansion.

A recipient row holds its input (the number as given and its variables, sealed; the
number's keyed hash for duplicates) and, once expanded, its message's id. The id is
written in the transaction that adds the message, so an expansion cut short (kill -9)
resumes at the first row without one and never makes a message twice for a row.
Counts are SQL aggregates over the rows joined to their messages: nothing is loaded
per row to count.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar

from gateway.crypto import KeyRing
from gateway.errors import Conflict, NotCancellable, NotFound, StoreError, ValidationError
from gateway.store import audit, messages
from gateway.store.base import (
    AddResult,
    Broadcast,
    BroadcastCounts,
    BroadcastState,
    Expansion,
    ExpectedReplies,
    MessageState,
    NewRecipient,
    Page,
    PendingRecipient,
    Priority,
    QueueItem,
    RecipientRow,
    RecipientState,
)
from gateway.store.notices import Notifier
from gateway.store.sealing import aad, decode_cursor, dump_json, encode_cursor

T = TypeVar("T")
Write = Callable[[Callable[[sqlite3.Connection], T]], Awaitable[T]]
Change = Callable[[Callable[[sqlite3.Connection, Notifier], T]], Awaitable[T]]
Read = Callable[[Callable[[sqlite3.Connection], T]], Awaitable[T]]

_COLUMNS: Final = (
    "id, name_enc, body_enc, replies_enc, reply_window, template, columns, category, "
    "api_key_id, state, send_at, total, created_at, updated_at"
)
# Which changes a broadcast's state allows: to -> from.
_ALLOWED: Final = {
    BroadcastState.PAUSED: frozenset({BroadcastState.RUNNING}),
    BroadcastState.RUNNING: frozenset({BroadcastState.PAUSED}),
    BroadcastState.CANCELLED: frozenset({BroadcastState.RUNNING, BroadcastState.PAUSED}),
}
# Aggregates over a broadcast's rows and their messages (one pass over its rows).
_COUNTS: Final = """SELECT count(*),
  coalesce(sum(r.state = 'pending'), 0),
  coalesce(sum(m.state IN ('queued', 'sending')), 0),
  coalesce(sum(m.state = 'sent'), 0),
  coalesce(sum(m.state = 'delivered'), 0),
  coalesce(sum(m.state IN ('failed', 'expired', 'unknown')), 0),
  coalesce(sum(m.state = 'suppressed'), 0),
  coalesce(sum(r.state = 'invalid'), 0),
  coalesce(sum(r.state = 'duplicate'), 0),
  coalesce(sum(r.state = 'cancelled' OR m.state = 'cancelled'), 0),
  coalesce(sum(e.inbound_id IS NOT NULL), 0)
FROM broadcast_recipients r
LEFT JOIN messages m ON m.id = r.message_id
LEFT JOIN expected_replies e ON e.message_id = r.message_id
WHERE r.broadcast_id = ?"""


def row_id(broadcast_id: str, seq: int) -> str:
    """A row's id: its broadcast's and its row number, so ids sort in upload order."""
    return f"{broadcast_id}.{seq:08d}"


def _aad(table: str, column: str, rid: str) -> bytes:
    return aad(table, column, rid)


def _decode(keyring: KeyRing, row: Sequence[Any]) -> Broadcast:
    (
        bid,
        name_enc,
        body_enc,
        replies_enc,
        reply_window,
        template,
        columns,
        category,
        api_key_id,
        state,
        send_at,
        total,
        created_at,
        updated_at,
    ) = row
    replies = None
    if replies_enc is not None:
        found = json.loads(keyring.open(replies_enc, aad=_aad("broadcasts", "replies", bid)))
        replies = ExpectedReplies(found, float(reply_window))
    return Broadcast(
        id=bid,
        name=keyring.open(name_enc, aad=_aad("broadcasts", "name", bid)).decode(),
        body=keyring.open(body_enc, aad=_aad("broadcasts", "body", bid)).decode(),
        template=template,
        columns=tuple(json.loads(columns)),
        category=category,
        replies=replies,
        send_at=send_at,
        api_key_id=api_key_id,
        state=BroadcastState(state),
        total=total,
        created_at=created_at,
        updated_at=updated_at,
    )


def _select(
    conn: sqlite3.Connection, keyring: KeyRing, broadcast_id: str, owner: str | None
) -> Broadcast | None:
    owned = "" if owner is None else " AND api_key_id = ?"
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM broadcasts WHERE id = ? AND state != 'intake'{owned}",  # noqa: S608
        (broadcast_id,) if owner is None else (broadcast_id, owner),
    ).fetchone()
    return None if row is None else _decode(keyring, row)


def _state_of(conn: sqlite3.Connection, broadcast_id: str) -> BroadcastState | None:
    row = conn.execute("SELECT state FROM broadcasts WHERE id = ?", (broadcast_id,)).fetchone()
    return None if row is None else BroadcastState(row[0])


class SqliteBroadcasts:
    """The :class:`~gateway.store.base.BroadcastStore` on the SQLite store's connections."""

    def __init__(self, keyring: KeyRing, write: Write[Any], change: Change[Any], read: Read[Any]):
        self._keyring = keyring
        self._write = write
        self._change = change
        self._read = read

    async def create(self, broadcast: Broadcast) -> None:
        keyring, bid = self._keyring, broadcast.id
        replies = broadcast.replies
        values = (
            bid,
            keyring.seal(broadcast.name.encode(), aad=_aad("broadcasts", "name", bid)),
            keyring.seal(broadcast.body.encode(), aad=_aad("broadcasts", "body", bid)),
            None
            if replies is None
            else keyring.seal(
                dump_json(dict(replies.replies)), aad=_aad("broadcasts", "replies", bid)
            ),
            None if replies is None else replies.window,
            broadcast.template,
            json.dumps(list(broadcast.columns)),
            broadcast.category,
            broadcast.api_key_id,
            BroadcastState.INTAKE.value,
            broadcast.send_at,
            0,
            broadcast.created_at,
            broadcast.created_at,
        )
        await self._write(
            lambda conn: conn.execute(
                f"INSERT INTO broadcasts ({_COLUMNS}) VALUES ({', '.join('?' * 14)})",  # noqa: S608
                values,
            )
        )

    async def add_recipients(self, broadcast_id: str, rows: Sequence[NewRecipient]) -> int:
        keyring = self._keyring
        sealed: list[tuple[Any, ...]] = []
        for r in rows:
            rid = row_id(broadcast_id, r.seq)
            sealed.append(
                (
                    rid,
                    r.seq,
                    keyring.seal(r.to.encode(), aad=_aad("broadcast_recipients", "recipient", rid)),
                    None if r.number is None else keyring.lookup_hash(r.number),
                    keyring.seal(
                        dump_json(dict(r.variables)),
                        aad=_aad("broadcast_recipients", "variables", rid),
                    )
                    if r.variables
                    else None,
                    r.error_code,
                )
            )

        def job(conn: sqlite3.Connection) -> int:
            seen: set[bytes] = set()
            out: list[tuple[Any, ...]] = []
            odd = 0
            for rid, seq, to_enc, number_hash, variables_enc, error_code in sealed:
                state = RecipientState.PENDING
                if error_code is not None:
                    state = RecipientState.INVALID
                elif number_hash in seen or _has_number(conn, broadcast_id, number_hash):
                    state = RecipientState.DUPLICATE
                if number_hash is not None:
                    seen.add(number_hash)
                odd += state is not RecipientState.PENDING
                out.append(
                    (
                        rid,
                        broadcast_id,
                        seq,
                        to_enc,
                        number_hash,
                        variables_enc,
                        state.value,
                        error_code,
                    )
                )
            conn.executemany(
                "INSERT INTO broadcast_recipients (id, broadcast_id, seq, recipient_enc, "
                "recipient_hash, variables_enc, state, error_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                out,
            )
            return odd

        return int(await self._write(job))

    async def open(self, broadcast_id: str, *, total: int, actor: str, action: str) -> None:
        keyring, at = self._keyring, time.time()

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE broadcasts SET state = 'running', total = ?, updated_at = ? "
                "WHERE id = ? AND state = 'intake'",
                (total, at, broadcast_id),
            )
            audit.insert(conn, keyring, at, actor, action, broadcast_id, {"total": total})

        await self._write(job)

    async def drop(self, broadcast_id: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM broadcast_recipients WHERE broadcast_id = ?", (broadcast_id,))
            conn.execute("DELETE FROM broadcasts WHERE id = ?", (broadcast_id,))

        await self._write(job)

    async def drop_unopened(self) -> int:
        def job(conn: sqlite3.Connection) -> int:
            doomed = "SELECT id FROM broadcasts WHERE state = 'intake'"
            conn.execute(f"DELETE FROM broadcast_recipients WHERE broadcast_id IN ({doomed})")  # noqa: S608
            return int(conn.execute("DELETE FROM broadcasts WHERE state = 'intake'").rowcount)

        return int(await self._write(job))

    async def get(self, broadcast_id: str, *, owner: str | None = None) -> Broadcast | None:
        keyring = self._keyring
        found: Broadcast | None = await self._read(
            lambda conn: _select(conn, keyring, broadcast_id, owner)
        )
        return found

    async def page(self, *, owner: str | None, cursor: str | None, limit: int) -> Page[Broadcast]:
        if limit < 1:
            raise ValidationError("limit must be at least 1", field="limit")
        limit = min(limit, 1000)
        before = decode_cursor(cursor) if cursor else None
        keyring = self._keyring

        def read(conn: sqlite3.Connection) -> list[Broadcast]:
            where, params = ["state != 'intake'"], []
            if owner is not None:
                where.append("api_key_id = ?")
                params.append(owner)
            if before is not None:
                where.append("id < ?")
                params.append(before)
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM broadcasts WHERE {' AND '.join(where)} "  # noqa: S608
                "ORDER BY id DESC LIMIT ?",
                [*params, limit + 1],
            ).fetchall()
            return [_decode(keyring, row) for row in rows]

        items: list[Broadcast] = await self._read(read)
        if len(items) > limit:
            items = items[:limit]
            return Page(items, encode_cursor(items[-1].id))
        return Page(items, None)

    async def counts(self, broadcast_id: str) -> BroadcastCounts:
        row = await self._read(lambda conn: conn.execute(_COUNTS, (broadcast_id,)).fetchone())
        return BroadcastCounts(*(int(v) for v in row))

    async def expandable(self) -> list[str]:
        rows = await self._read(
            lambda conn: conn.execute(
                "SELECT id FROM broadcasts b WHERE state = 'running' AND EXISTS (SELECT 1 FROM "
                "broadcast_recipients r WHERE r.broadcast_id = b.id AND r.state = 'pending') "
                "ORDER BY id"
            ).fetchall()
        )
        return [str(row[0]) for row in rows]

    async def pending(self, broadcast_id: str, limit: int) -> list[PendingRecipient]:
        keyring = self._keyring

        def read(conn: sqlite3.Connection) -> list[PendingRecipient]:
            out = []
            for rid, seq, to_enc, variables_enc in conn.execute(
                "SELECT id, seq, recipient_enc, variables_enc FROM broadcast_recipients "
                "WHERE broadcast_id = ? AND state = 'pending' ORDER BY seq LIMIT ?",
                (broadcast_id, limit),
            ):
                out.append(
                    PendingRecipient(
                        seq,
                        keyring.open(
                            to_enc, aad=_aad("broadcast_recipients", "recipient", rid)
                        ).decode(),
                        _variables(keyring, rid, variables_enc),
                    )
                )
            return out

        found: list[PendingRecipient] = await self._read(read)
        return found

    async def expand(
        self, broadcast_id: str, rows: Sequence[Expansion], *, actor: str, action: str
    ) -> list[AddResult] | None:
        keyring, at = self._keyring, time.time()
        new = [r.message for r in rows if r.message is not None]
        batch = messages.prepare_messages(keyring, new, at) if new else None

        def job(conn: sqlite3.Connection, notify: Notifier) -> list[AddResult] | None:
            if _state_of(conn, broadcast_id) is not BroadcastState.RUNNING:
                return None
            ids = [row_id(broadcast_id, r.seq) for r in rows]
            marks = ",".join("?" * len(ids))
            pending = conn.execute(
                f"SELECT count(*) FROM broadcast_recipients WHERE id IN ({marks}) "  # noqa: S608
                "AND state = 'pending'",
                ids,
            ).fetchone()[0]
            if pending != len(ids):  # never a second message for a row
                raise StoreError(f"broadcast {broadcast_id}: rows expanded twice")
            results = [] if batch is None else messages.insert_messages(conn, keyring, batch)
            conn.executemany(
                "UPDATE broadcast_recipients SET state = ?, message_id = ?, error_code = ? "
                "WHERE id = ?",
                [
                    (
                        RecipientState.INVALID.value
                        if r.message is None
                        else RecipientState.MESSAGE.value,
                        None if r.message is None else r.message.id,
                        r.error_code,
                        rid,
                    )
                    for r, rid in zip(rows, ids, strict=True)
                ],
            )
            for r in rows:
                if r.message is not None and r.suppressed is not None:
                    code, text = r.suppressed
                    messages.finish(
                        conn,
                        r.message.id,
                        MessageState.SUPPRESSED,
                        error_code=code,
                        error_text=text,
                    )
                    notify.message(r.message.id, MessageState.SUPPRESSED)
            if new:
                audit.insert(
                    conn, keyring, at, actor, action, broadcast_id, {"ids": [m.id for m in new]}
                )
            held = {r.message.id for r in rows if r.message is not None and r.suppressed}
            return [r for r in results if r.message.id not in held]

        result: list[AddResult] | None = await self._change(job)
        return result

    async def set_state(
        self,
        broadcast_id: str,
        state: BroadcastState,
        *,
        owner: str | None,
        actor: str,
        action: str,
    ) -> Broadcast:
        keyring, at = self._keyring, time.time()

        def job(conn: sqlite3.Connection) -> Broadcast:
            found = _select(conn, keyring, broadcast_id, owner)
            if found is None:
                raise NotFound("no such broadcast")
            if found.state is not state:
                if found.state not in _ALLOWED[state]:
                    raise Conflict(
                        f"broadcast {broadcast_id} is {found.state.value}; "
                        f"it cannot become {state.value}"
                    )
                conn.execute(
                    "UPDATE broadcasts SET state = ?, updated_at = ? WHERE id = ?",
                    (state.value, at, broadcast_id),
                )
                if state is BroadcastState.CANCELLED:
                    conn.execute(
                        "UPDATE broadcast_recipients SET state = 'cancelled' "
                        "WHERE broadcast_id = ? AND state = 'pending'",
                        (broadcast_id,),
                    )
                audit.insert(conn, keyring, at, actor, action, broadcast_id, {})
            changed = _select(conn, keyring, broadcast_id, None)
            assert changed is not None
            return changed

        changed: Broadcast = await self._write(job)
        return changed

    async def queued_messages(self, broadcast_id: str) -> list[QueueItem]:
        found: list[QueueItem] = await self._read(
            lambda conn: _queue_items(conn, broadcast_id, None)
        )
        return found

    async def cancel_queued(self, broadcast_id: str, limit: int) -> list[str]:
        keyring = self._keyring

        def job(conn: sqlite3.Connection, notify: Notifier) -> list[str]:
            cancelled = []
            for item in _queue_items(conn, broadcast_id, limit):
                try:
                    messages.cancel(conn, keyring, item.id, None)
                except NotCancellable:  # a modem started on it meanwhile
                    continue
                notify.message(item.id, MessageState.CANCELLED)
                cancelled.append(item.id)
            return cancelled

        done: list[str] = await self._change(job)
        return done

    async def held(self) -> frozenset[str]:
        rows = await self._read(
            lambda conn: conn.execute(
                "SELECT r.message_id FROM broadcasts b "
                "JOIN broadcast_recipients r ON r.broadcast_id = b.id "
                "JOIN messages m ON m.id = r.message_id "
                "WHERE b.state = 'paused' AND m.state = 'queued'"
            ).fetchall()
        )
        return frozenset(str(row[0]) for row in rows)

    async def paused(self) -> frozenset[str]:
        rows = await self._read(
            lambda conn: conn.execute("SELECT id FROM broadcasts WHERE state = 'paused'").fetchall()
        )
        return frozenset(str(row[0]) for row in rows)

    async def recipients(self, broadcast_id: str, *, after: int, limit: int) -> list[RecipientRow]:
        keyring = self._keyring

        def read(conn: sqlite3.Connection) -> list[RecipientRow]:
            out = []
            for (
                rid,
                seq,
                to_enc,
                variables_enc,
                state,
                code,
                message_id,
                mstate,
                value,
            ) in conn.execute(
                "SELECT r.id, r.seq, r.recipient_enc, r.variables_enc, r.state, "
                "coalesce(r.error_code, m.last_error_code), r.message_id, m.state, "
                "e.value_enc FROM broadcast_recipients r "
                "LEFT JOIN messages m ON m.id = r.message_id "
                "LEFT JOIN expected_replies e ON e.message_id = r.message_id "
                "WHERE r.broadcast_id = ? AND r.seq > ? ORDER BY r.seq LIMIT ?",
                (broadcast_id, after, limit),
            ):
                reply = (
                    None
                    if value is None
                    else keyring.open(
                        value, aad=aad("expected_replies", "value", message_id)
                    ).decode()
                )
                out.append(
                    RecipientRow(
                        seq=seq,
                        to=keyring.open(
                            to_enc, aad=_aad("broadcast_recipients", "recipient", rid)
                        ).decode(),
                        variables=_variables(keyring, rid, variables_enc),
                        state=mstate if mstate is not None else state,
                        message_id=message_id,
                        error_code=code,
                        reply=reply,
                    )
                )
            return out

        found: list[RecipientRow] = await self._read(read)
        return found


def _has_number(conn: sqlite3.Connection, broadcast_id: str, number_hash: bytes | None) -> bool:
    if number_hash is None:
        return False
    return (
        conn.execute(
            "SELECT 1 FROM broadcast_recipients WHERE broadcast_id = ? AND recipient_hash = ? "
            "LIMIT 1",
            (broadcast_id, number_hash),
        ).fetchone()
        is not None
    )


def _variables(keyring: KeyRing, rid: str, sealed: bytes | None) -> dict[str, str]:
    if sealed is None:
        return {}
    found: dict[str, str] = json.loads(
        keyring.open(sealed, aad=_aad("broadcast_recipients", "variables", rid))
    )
    return found


def _queue_items(conn: sqlite3.Connection, broadcast_id: str, limit: int | None) -> list[QueueItem]:
    rows = conn.execute(
        "SELECT m.id, m.priority, m.send_at, m.expires_at, m.route, m.recipient_hash, "
        "m.attempts, m.category FROM broadcast_recipients r JOIN messages m "
        "ON m.id = r.message_id WHERE r.broadcast_id = ? AND m.state = 'queued' "
        "ORDER BY r.seq LIMIT ?",
        (broadcast_id, -1 if limit is None else limit),
    ).fetchall()
    return [QueueItem(r[0], Priority(r[1]), r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]
