"""Messages and their segments: rows in and out, and the state machine.

Functions taking a ``sqlite3.Connection`` run on a connection's worker thread:
writes as jobs of the group writer, reads on the read connection.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from gateway.crypto import KeyRing
from gateway.errors import Conflict, IdempotencyConflict, NotCancellable, NotFound, StoreError
from gateway.store import client_fields, conversations, expected_replies, quotas
from gateway.store.base import (
    AddResult,
    Message,
    MessageFilter,
    MessageState,
    NewMessage,
    Priority,
    QueueItem,
    RecoveryReport,
    Segment,
    SegmentState,
)
from gateway.store.sealing import aad, dump_json

# Multi-row INSERTs take their rows from a VALUES list padded with all-NULL rows up to
# a power of two, which the WHERE drops (column1 is the key, never NULL in a real row).
_INSERT_MESSAGES = """INSERT INTO messages (
    id, recipient_enc, recipient_hash, body_enc, metadata_enc, priority, state, created_at,
    updated_at, send_at, expires_at, encoding, segment_count, concat_ref, request_report, route,
    tags_enc, tag_hashes, api_key_id, idempotency_hash, request_hash, category, conversation_id
) SELECT * FROM (VALUES {}) WHERE column1 IS NOT NULL"""
_MESSAGE_VALUES = "(?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_SEGMENTS = """INSERT INTO segments (message_id, seq, state)
SELECT * FROM (VALUES {}) WHERE column1 IS NOT NULL"""
_SEGMENT_VALUES = "(?, ?, 'pending')"
# Bound parameters per multi-row INSERT, under SQLite's 32,766: a batch of 1,000
# messages (20 each) is one statement, and its segments (2 each) another.
PARAMS_PER_INSERT = 30_000
# The fewest rows a statement is written for (one message: no padding at all).
_MIN_ROWS_PER_INSERT = 1

MESSAGE_COLUMNS = (
    "id, recipient_enc, body_enc, metadata_enc, priority, state, created_at, updated_at, "
    "send_at, expires_at, encoding, concat_ref, request_report, route, tags_enc, modem, attempts, "
    "last_error_code, last_error_text, sent_at, delivered_at, api_key_id, category, "
    "conversation_id"
)
_SEGMENT_COLUMNS = "message_id, seq, state, modem, reference, sent_at, report_status"
TAG_KEY_CHARS = 16  # hex digits of a tag hash that ``message_tags`` keeps


@dataclass(frozen=True, slots=True)
class PreparedMessages:
    """New messages sealed on the event loop, ready for one executemany each."""

    rows: list[tuple[Any, ...]]
    segments: list[tuple[str, int]]
    # index, key scope, idempotency key (for the conflict's message), its hash, request hash
    keyed: list[tuple[int, str, str, bytes, str | None]]
    messages: list[Message]  # each message as it reads once committed
    to_hashes: list[bytes]  # keyed hash of each message's number, as stored
    expected: list[tuple[Any, ...]]  # expected_replies rows of the messages declaring some


_REQUEST_DOMAIN = "smsgw.request.v1\x00"  # keeps these hashes apart from number lookups


@lru_cache(maxsize=32)
def _pending_segments(count: int) -> tuple[Segment, ...]:
    """Segments of a new message; immutable, so every message of that length shares them."""
    return tuple(
        Segment(seq, SegmentState.PENDING, None, None, None, None) for seq in range(1, count + 1)
    )


def prepare_messages(keyring: KeyRing, new: Sequence[NewMessage], now: float) -> PreparedMessages:
    rows: list[tuple[Any, ...]] = []
    segments: list[tuple[str, int]] = []
    keyed: list[tuple[int, str, str, bytes, str | None]] = []
    messages: list[Message] = []
    to_hashes: list[bytes] = []
    seal = keyring.seal
    lookup_hash = keyring.lookup_hash
    tag_hashes: dict[tuple[str, ...], str | None] = {}  # a batch usually repeats one set
    for index, m in enumerate(new):
        mid = m.id
        tags = tuple(m.tags)
        if tags not in tag_hashes:
            tag_hashes[tags] = client_fields.tag_hashes(keyring, tags)
        key_hash = (
            None
            if m.idempotency_key is None
            else client_fields.idempotency_hash(keyring, m.idempotency_key)
        )
        to_hash = lookup_hash(m.to)
        to_hashes.append(to_hash)
        # The request fingerprint covers the number and the text: a plain hash of it could
        # be reversed by trying numbers against a known template, so only a keyed one is kept.
        request_hash = (
            None if m.request_hash is None else lookup_hash(_REQUEST_DOMAIN + m.request_hash).hex()
        )
        rows.append(
            (
                mid,
                seal(m.to.encode(), aad=aad("messages", "recipient", mid)),
                to_hash,
                seal(m.body.encode(), aad=aad("messages", "body", mid)),
                seal(dump_json(m.metadata), aad=aad("messages", "metadata", mid))
                if m.metadata
                else None,
                int(m.priority),
                now,
                now,
                m.send_at,
                m.expires_at,
                m.encoding,
                m.segment_count,
                m.concat_ref,
                int(m.request_report),
                m.route,
                client_fields.seal_tags(keyring, mid, tags),
                tag_hashes[tags],
                m.api_key_id,
                key_hash,
                request_hash,
                m.category,
            )
        )
        segments.extend((mid, seq) for seq in range(1, m.segment_count + 1))
        if m.idempotency_key is not None and key_hash is not None:
            keyed.append((index, m.api_key_id or "", m.idempotency_key, key_hash, request_hash))
        messages.append(
            Message(
                id=mid,
                to=m.to,
                body=m.body,
                priority=m.priority,
                state=MessageState.QUEUED,
                created_at=now,
                updated_at=now,
                send_at=m.send_at,
                expires_at=m.expires_at,
                encoding=m.encoding,
                concat_ref=m.concat_ref,
                request_report=m.request_report,
                route=m.route,
                tags=tags,
                metadata=dict(m.metadata),
                modem=None,
                attempts=0,
                last_error_code=None,
                last_error_text=None,
                sent_at=None,
                delivered_at=None,
                segments=_pending_segments(m.segment_count),
                api_key_id=m.api_key_id,
                category=m.category,
                replies=m.replies,
            )
        )
    expected = expected_replies.prepare(keyring, new, to_hashes)
    return PreparedMessages(rows, segments, keyed, messages, to_hashes, expected)


def insert_messages(
    conn: sqlite3.Connection, keyring: KeyRing, batch: PreparedMessages
) -> list[AddResult]:
    """All or nothing: one idempotency conflict fails the whole batch."""
    earlier: dict[int, Message] = {}  # index → message an idempotency key already names
    seen: dict[tuple[str, bytes], tuple[int, str | None]] = {}
    for index, scope, key, key_hash, request_hash in batch.keyed:
        previous = seen.get((scope, key_hash))
        if previous is None:
            row = conn.execute(
                "SELECT id, request_hash FROM messages "
                "WHERE coalesce(api_key_id, '') = ? AND idempotency_hash = ?",
                (scope, key_hash),
            ).fetchone()
            if row is None:
                seen[(scope, key_hash)] = (index, request_hash)
                continue
            if row[1] != request_hash:
                raise _idempotency_conflict(key)
            found = load_message(conn, keyring, row[0])
            assert found is not None
            earlier[index] = found
            seen[(scope, key_hash)] = (index, request_hash)
        else:
            # The same key twice in one batch: the second names the first.
            first_index, first_hash = previous
            if first_hash != request_hash:
                raise _idempotency_conflict(key)
            earlier[index] = earlier.get(first_index, batch.messages[first_index])
    rows, segments = batch.rows, batch.segments
    skipped = {batch.messages[index].id for index in earlier}
    if earlier:
        rows = [row for row in rows if row[0] not in skipped]
        segments = [segment for segment in segments if segment[0] not in skipped]
    threads: dict[bytes, str] = {}
    if rows:
        quotas.check_daily(
            conn,
            (m.api_key_id for m in batch.messages if m.id not in skipped),
            batch.messages[0].created_at,
        )
        recipients = (
            (to_hash, m.to)
            for m, to_hash in zip(batch.messages, batch.to_hashes, strict=True)
            if m.id not in skipped
        )
        threads = conversations.for_recipients(
            conn, keyring, recipients, batch.messages[0].created_at
        )
        rows = [(*row, threads[row[2]]) for row in rows]
    try:
        _insert_rows(conn, _INSERT_MESSAGES, _MESSAGE_VALUES, rows)
        _insert_rows(conn, _INSERT_SEGMENTS, _SEGMENT_VALUES, segments)
        if batch.expected:
            expected_replies.insert(conn, batch.expected, skipped)
    except sqlite3.IntegrityError as exc:
        raise StoreError(f"message could not be stored: {exc}") from exc
    made = zip(batch.messages, batch.to_hashes, strict=True)
    return [
        AddResult(earlier[index], created=False)
        if index in earlier
        else AddResult(
            replace(message, conversation_id=threads[to_hash]), created=True, to_hash=to_hash
        )
        for index, (message, to_hash) in enumerate(made)
    ]


def _insert_rows(
    conn: sqlite3.Connection, head: str, values: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Multi-row INSERTs rather than executemany: one step per thousand-odd rows, so the
    writer thread gives up and retakes the GIL that much less often. Retaking it costs
    up to the interpreter's switch interval (5 ms) while the event loop is busy, so a
    batch pays that once per statement, not once per few hundred rows.

    Each prepared statement stays in the connection's statement cache and a large one
    holds megabytes, so row counts are padded to a power of two: a dozen shapes at most,
    not one per batch size.
    """
    if not rows:
        return
    width = len(rows[0])
    per_insert = _MIN_ROWS_PER_INSERT
    while per_insert * 2 * width <= PARAMS_PER_INSERT:
        per_insert *= 2
    for start in range(0, len(rows), per_insert):
        chunk = rows[start : start + per_insert]
        shape = _MIN_ROWS_PER_INSERT
        while shape < len(chunk):
            shape *= 2
        params = [v for row in chunk for v in row]
        params.extend([None] * (width * (shape - len(chunk))))
        conn.execute(_multi_row(head, values, shape), params)


@lru_cache(maxsize=32)
def _multi_row(head: str, values: str, count: int) -> str:
    return head.format(", ".join([values] * count))


def _idempotency_conflict(key: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        f"idempotency key {key!r} was already used with a different request",
        field="idempotency_key",
    )


# -- reading ---------------------------------------------------------------------


def decode_message(keyring: KeyRing, row: Sequence[Any], segments: Iterable[Segment]) -> Message:
    (
        mid,
        recipient_enc,
        body_enc,
        metadata_enc,
        priority,
        state,
        created_at,
        updated_at,
        send_at,
        expires_at,
        encoding,
        concat_ref,
        request_report,
        route,
        tags_enc,
        modem,
        attempts,
        last_error_code,
        last_error_text,
        sent_at,
        delivered_at,
        api_key_id,
        category,
        conversation_id,
    ) = row
    open_ = keyring.open
    metadata = (
        json.loads(open_(metadata_enc, aad=aad("messages", "metadata", mid)))
        if metadata_enc is not None
        else {}
    )
    return Message(
        id=mid,
        to=open_(recipient_enc, aad=aad("messages", "recipient", mid)).decode(),
        body=open_(body_enc, aad=aad("messages", "body", mid)).decode(),
        priority=Priority(priority),
        state=MessageState(state),
        created_at=created_at,
        updated_at=updated_at,
        send_at=send_at,
        expires_at=expires_at,
        encoding=encoding,
        concat_ref=concat_ref,
        request_report=bool(request_report),
        route=route,
        tags=client_fields.open_tags(keyring, mid, tags_enc),
        metadata=metadata,
        modem=modem,
        attempts=attempts,
        last_error_code=last_error_code,
        last_error_text=last_error_text,
        sent_at=sent_at,
        delivered_at=delivered_at,
        segments=tuple(segments),
        api_key_id=api_key_id,
        category=category,
        conversation_id=conversation_id,
    )


def _segment(row: Sequence[Any]) -> Segment:
    return Segment(row[1], SegmentState(row[2]), row[3], row[4], row[5], row[6])


def load_message(
    conn: sqlite3.Connection, keyring: KeyRing, message_id: str, *, owner: str | None = None
) -> Message | None:
    """``owner``: an API key id; another key's message is None, as a missing one is."""
    owned = "" if owner is None else " AND api_key_id = ?"
    row = conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?{owned}",  # noqa: S608
        (message_id,) if owner is None else (message_id, owner),
    ).fetchone()
    if row is None:
        return None
    segments = conn.execute(
        f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE message_id = ? ORDER BY seq",  # noqa: S608
        (message_id,),
    ).fetchall()
    [message] = expected_replies.attach(
        conn, keyring, [decode_message(keyring, row, map(_segment, segments))]
    )
    return message


def load_messages(
    conn: sqlite3.Connection, keyring: KeyRing, rows: Sequence[Sequence[Any]]
) -> list[Message]:
    if not rows:
        return []
    ids = [row[0] for row in rows]
    by_message: dict[str, list[Segment]] = {mid: [] for mid in ids}
    marks = ",".join("?" * len(ids))
    for segment_row in conn.execute(
        f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE message_id IN ({marks}) "  # noqa: S608
        "ORDER BY message_id, seq",
        ids,
    ):
        by_message[segment_row[0]].append(_segment(segment_row))
    decoded = [decode_message(keyring, row, by_message[row[0]]) for row in rows]
    return expected_replies.attach(conn, keyring, decoded)


def select_messages(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    flt: MessageFilter,
    to_hash: bytes | None,
    before_id: str | None,
    limit: int,
) -> list[Message]:
    """Newest first; ``before_id`` continues after the last id of the previous page."""
    sql, params = message_query(keyring, flt, to_hash, before_id)
    return load_messages(conn, keyring, conn.execute(sql, [*params, limit]).fetchall())


def message_query(
    keyring: KeyRing, flt: MessageFilter, to_hash: bytes | None, before_id: str | None
) -> tuple[str, list[Any]]:
    """The list's SQL and its parameters, but for the last one, the limit.

    Every filter has an index ending in ``id`` (migration "reads at scale"), so a page is
    read in order and the scan stops at ``limit`` rows. A tag drives the query from its
    own table (``message_tags``, by the tag hash's first 16 hex digits), its rows in id
    order; the exact hash is checked on each message found. A number is looked up by
    its hash first: a patient's messages are few enough to sort."""
    where: list[str] = []
    params: list[Any] = []
    source = "messages"
    order = "id"
    if to_hash is not None:
        # One patient's messages are few: found by number, then sorted. (The planner
        # would otherwise walk a state's million ids in order to find them.)
        source = "messages INDEXED BY messages_recipient"
    elif flt.tag is not None:
        hashed = client_fields.tag_hash(keyring, flt.tag)
        source = "message_tags CROSS JOIN messages ON messages.id = message_tags.message_id"
        order = "message_tags.message_id"
        where.append("message_tags.tag_key = ?")
        params.append(hashed[:TAG_KEY_CHARS])
        where.append("EXISTS (SELECT 1 FROM json_each(messages.tag_hashes) WHERE value = ?)")
        params.append(hashed)
    if before_id is not None:
        where.append(f"{order} < ?")
        params.append(before_id)
    if flt.owner is not None:
        where.append("api_key_id = ?")
        params.append(flt.owner)
    if flt.state is not None:
        where.append("state = ?")
        params.append(flt.state.value)
    if to_hash is not None:
        where.append("recipient_hash = ?")
        params.append(to_hash)
    if flt.category is not None:
        where.append("category = ?")
        params.append(flt.category)
    if flt.modem is not None:
        where.append("modem = ?")
        params.append(flt.modem)
    if flt.tag is not None and to_hash is not None:
        where.append("EXISTS (SELECT 1 FROM json_each(messages.tag_hashes) WHERE value = ?)")
        params.append(client_fields.tag_hash(keyring, flt.tag))
    if flt.since is not None:
        where.append("created_at >= ?")
        params.append(flt.since)
    if flt.until is not None:
        where.append("created_at < ?")
        params.append(flt.until)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT {MESSAGE_COLUMNS} FROM {source} {clause} ORDER BY {order} DESC LIMIT ?"  # noqa: S608
    return sql, params


_QUEUE_ITEM = (
    "SELECT id, priority, send_at, expires_at, route, recipient_hash, attempts, category "
    "FROM messages WHERE state = 'queued'"
)


def _queue_item(row: Sequence[Any]) -> QueueItem:
    return QueueItem(row[0], Priority(row[1]), row[2], row[3], row[4], row[5], row[6], row[7])


def select_queued(conn: sqlite3.Connection) -> list[QueueItem]:
    return [_queue_item(row) for row in conn.execute(f"{_QUEUE_ITEM} ORDER BY id")]


def select_queued_page(conn: sqlite3.Connection, after: str, limit: int) -> list[QueueItem]:
    """The queued messages after id ``after`` (``""``: from the first), in id order."""
    rows = conn.execute(f"{_QUEUE_ITEM} AND id > ? ORDER BY id LIMIT ?", (after, limit))
    return [_queue_item(row) for row in rows]


def oldest_due(conn: sqlite3.Connection, now: float) -> float | None:
    """The earliest send time of the queued messages due at ``now``: the head of the
    partial index ``messages_due``."""
    row = conn.execute(
        "SELECT min(send_at) FROM messages WHERE state = 'queued' AND send_at <= ?", (now,)
    ).fetchone()
    return None if row[0] is None else float(row[0])


# -- state machine (write jobs) ------------------------------------------------------


def _state_of(conn: sqlite3.Connection, message_id: str) -> MessageState:
    row = conn.execute("SELECT state FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        raise NotFound(f"no message {message_id}")
    return MessageState(row[0])


def _require_segment(conn: sqlite3.Connection, message_id: str, seq: int) -> None:
    row = conn.execute(
        "SELECT 1 FROM segments WHERE message_id = ? AND seq = ?", (message_id, seq)
    ).fetchone()
    if row is None:
        raise NotFound(f"no segment {seq} of message {message_id}")


def cancel(
    conn: sqlite3.Connection, keyring: KeyRing, message_id: str, owner: str | None
) -> Message:
    """``owner``: an API key id; another key's message raises NotFound, as a missing one does."""
    if owner is not None and load_message(conn, keyring, message_id, owner=owner) is None:
        raise NotFound(f"no message {message_id}")
    state = _state_of(conn, message_id)
    if state is not MessageState.CANCELLED:
        handed = conn.execute(
            "SELECT 1 FROM segments WHERE message_id = ? AND state != 'pending' LIMIT 1",
            (message_id,),
        ).fetchone()
        if state is not MessageState.QUEUED or handed is not None:
            raise NotCancellable(
                f"message {message_id} is {state.value} and can no longer be cancelled"
            )
        conn.execute(
            "UPDATE messages SET state = 'cancelled', updated_at = ? WHERE id = ?",
            (time.time(), message_id),
        )
    message = load_message(conn, keyring, message_id)
    assert message is not None
    return message


def recover(
    conn: sqlite3.Connection,
    *,
    resend_unknown: bool,
    on_unknown: Callable[[str], None] | None = None,
) -> RecoveryReport:
    """``on_unknown`` is called, in the transaction, for each message left `unknown`."""
    now = time.time()
    in_flight = [
        row[0]
        for row in conn.execute("SELECT DISTINCT message_id FROM segments WHERE state = 'sending'")
    ]
    unknown_segments = conn.execute(
        "UPDATE segments SET state = 'unknown' WHERE state = 'sending'"
    ).rowcount
    requeued = 0
    for message_id in in_flight:
        if resend_unknown:
            # Possibly a duplicate for the patient, but never a silent loss (invariant 5).
            conn.execute(
                "UPDATE segments SET state = 'pending', modem = NULL, reference = NULL "
                "WHERE message_id = ? AND state = 'unknown'",
                (message_id,),
            )
            requeued += conn.execute(
                "UPDATE messages SET state = 'queued', attempts = attempts + 1, "
                "last_error_code = 'send_unknown', "
                "last_error_text = 'interrupted while sending', updated_at = ? "
                "WHERE id = ? AND state IN ('sending', 'unknown')",
                (now, message_id),
            ).rowcount
        else:
            changed = conn.execute(
                "UPDATE messages SET state = 'unknown', last_error_code = 'send_unknown', "
                "last_error_text = 'interrupted while sending', updated_at = ? "
                "WHERE id = ? AND state = 'sending'",
                (now, message_id),
            ).rowcount
            if changed and on_unknown is not None:
                on_unknown(message_id)
    requeued += conn.execute(
        "UPDATE messages SET state = 'queued', updated_at = ? WHERE state = 'sending'",
        (now,),
    ).rowcount
    return RecoveryReport(unknown_segments=unknown_segments, requeued_messages=requeued)


def segment_sending(conn: sqlite3.Connection, message_id: str, seq: int, modem: str) -> None:
    state = _state_of(conn, message_id)
    if state not in (MessageState.QUEUED, MessageState.SENDING):
        raise Conflict(f"message {message_id} is {state.value}; it must not be sent")
    _require_segment(conn, message_id, seq)
    conn.execute(
        "UPDATE segments SET state = 'sending', modem = ? WHERE message_id = ? AND seq = ?",
        (modem, message_id, seq),
    )
    conn.execute(
        "UPDATE messages SET state = 'sending', modem = ?, updated_at = ? WHERE id = ?",
        (modem, time.time(), message_id),
    )


def segment_sent(
    conn: sqlite3.Connection, message_id: str, seq: int, modem: str, reference: int, at: float
) -> MessageState:
    state = _state_of(conn, message_id)
    _require_segment(conn, message_id, seq)
    conn.execute(
        "UPDATE segments SET state = 'sent', modem = ?, reference = ?, sent_at = ? "
        "WHERE message_id = ? AND seq = ?",
        (modem, reference, at, message_id, seq),
    )
    remaining = conn.execute(
        "SELECT count(*) FROM segments WHERE message_id = ? AND state NOT IN ('sent', 'delivered')",
        (message_id,),
    ).fetchone()[0]
    if remaining == 0 and state in (MessageState.SENDING, MessageState.QUEUED):
        conn.execute(
            "UPDATE messages SET state = 'sent', modem = ?, sent_at = ?, updated_at = ? "
            "WHERE id = ?",
            (modem, at, time.time(), message_id),
        )
        return MessageState.SENT
    return state


def segment_unknown(
    conn: sqlite3.Connection, message_id: str, seq: int, modem: str, error: str
) -> None:
    _state_of(conn, message_id)
    _require_segment(conn, message_id, seq)
    conn.execute(
        "UPDATE segments SET state = 'unknown', modem = ? WHERE message_id = ? AND seq = ?",
        (modem, message_id, seq),
    )
    conn.execute(
        "UPDATE messages SET state = 'unknown', modem = ?, last_error_code = 'send_unknown', "
        "last_error_text = ?, updated_at = ? WHERE id = ? AND state IN ('queued', 'sending')",
        (modem, error, time.time(), message_id),
    )


def requeue(
    conn: sqlite3.Connection,
    message_id: str,
    *,
    send_at: float,
    error_code: str,
    error_text: str,
    count_attempt: bool = True,
) -> None:
    _state_of(conn, message_id)
    # Segments already accepted by the network stay sent; the rest go again with the
    # message's fixed concat_ref, so the handset still joins them.
    conn.execute(
        "UPDATE segments SET state = 'pending', modem = NULL, reference = NULL "
        "WHERE message_id = ? AND state NOT IN ('sent', 'delivered')",
        (message_id,),
    )
    conn.execute(
        "UPDATE messages SET state = 'queued', attempts = attempts + ?, send_at = ?, "
        "last_error_code = ?, last_error_text = ?, updated_at = ? WHERE id = ?",
        (int(count_attempt), send_at, error_code, error_text, time.time(), message_id),
    )


def finish(
    conn: sqlite3.Connection,
    message_id: str,
    state: MessageState,
    *,
    error_code: str | None,
    error_text: str | None,
) -> None:
    _state_of(conn, message_id)
    conn.execute(
        "UPDATE messages SET state = ?, last_error_code = coalesce(?, last_error_code), "
        "last_error_text = coalesce(?, last_error_text), updated_at = ? WHERE id = ?",
        (state.value, error_code, error_text, time.time(), message_id),
    )
