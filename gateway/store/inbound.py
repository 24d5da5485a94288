"""Inbound texts: dedupe, reassembly of concatenated parts, conversations.

A part is committed before the daemon deletes it from the modem (invariant 2),
so a crash in between makes the modem hand it over again: the keyed hash of its
dedupe key turns that second delivery into a no-op. A stored part's key names its
slot and is released once the modem has deleted the slot, so equal bytes in another
slot, or later in the same one, are another text; a routed part's key (its content
alone) holds only for its window. Parts of a long text wait in
``inbound_parts`` (keyed by modem, sender hash, reference and total) until the
last one arrives, in any order; a text whose parts never all arrive is released
after a timeout with a marker where parts are missing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.crypto import KeyRing
from gateway.ids import new_id
from gateway.store.base import Inbound, InboundPart, InboundResult, UndecodableInbound
from gateway.store.conversations import number_aad
from gateway.store.events import insert_event
from gateway.store.expected_replies import reply_value
from gateway.store.sealing import aad
from gateway.store.secure_records import SMS

MISSING_PART = "[…]"

_INBOUND_COLUMNS = (
    "id, modem, sender_enc, text_enc, encoding, received_at, sent_at, parts, complete, "
    "conversation_id, channel"
)
_READ_COLUMNS = f"{_INBOUND_COLUMNS}, in_reply_to, reply_value_enc"


@dataclass(frozen=True, slots=True)
class PreparedPart:
    """A part with its hashes and sealed values computed on the event loop."""

    part: InboundPart
    row_id: str  # the inbound id (single part) or the inbound_parts id
    key_hash: bytes
    sender_hash: bytes
    sender_enc: bytes
    text_enc: bytes
    conversation_id: str  # used when the sender has none yet
    number_enc: bytes  # the sender sealed for that new conversation

    @property
    def is_single(self) -> bool:
        return self.part.concat_total is None or self.part.concat_total <= 1


def prepare_part(keyring: KeyRing, part: InboundPart) -> PreparedPart:
    single = part.concat_total is None or part.concat_total <= 1
    table = "inbound" if single else "inbound_parts"
    row_id = new_id("in" if single else "inp")
    conversation_id = new_id("conv")
    return PreparedPart(
        part=part,
        row_id=row_id,
        key_hash=keyring.lookup_hash(part.dedupe_key),
        sender_hash=keyring.lookup_hash(part.sender),
        sender_enc=keyring.seal(part.sender.encode(), aad=aad(table, "sender", row_id)),
        text_enc=keyring.seal(part.text.encode(), aad=aad(table, "text", row_id)),
        conversation_id=conversation_id,
        # Bound to the candidate id: kept only when the conversation is made by this text.
        number_enc=keyring.seal(part.sender.encode(), aad=number_aad(conversation_id)),
    )


def _conversation(conn: sqlite3.Connection, prepared: PreparedPart) -> str:
    """The sender's conversation, made if new; the modem it wrote to is kept for sticky
    replies when this text is its newest (``inbound_at``), and ``last_at`` moves on."""
    part, sender_hash = prepared.part, prepared.sender_hash
    conn.execute(
        "INSERT INTO conversations (sender_hash, id, modem, last_at, inbound_at, number_enc) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sender_hash) DO UPDATE SET "
        "modem = CASE WHEN excluded.inbound_at >= coalesce(conversations.inbound_at, 0) "
        "THEN excluded.modem ELSE conversations.modem END, "
        "inbound_at = max(coalesce(conversations.inbound_at, 0), excluded.inbound_at), "
        "last_at = max(conversations.last_at, excluded.last_at)",
        (
            sender_hash,
            prepared.conversation_id,
            part.modem,
            part.received_at,
            part.received_at,
            prepared.number_enc,
        ),
    )
    row = conn.execute(
        "SELECT id FROM conversations WHERE sender_hash = ?", (sender_hash,)
    ).fetchone()
    return str(row[0])


def _insert_inbound(conn: sqlite3.Connection, row: tuple[Any, ...]) -> None:
    """A whole text, counted unread in its conversation (``conversation_id`` is row[9])."""
    conn.execute(
        f"INSERT INTO inbound ({_INBOUND_COLUMNS}, sender_hash) "  # noqa: S608
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        row,
    )
    conn.execute("UPDATE conversations SET unread = unread + 1 WHERE id = ?", (row[9],))


def first_sight(conn: sqlite3.Connection, key_hash: bytes, at: float, window: float | None) -> bool:
    """Record a dedupe key; False when it is held already (within ``window``, if set)."""
    if window is not None:
        conn.execute(
            "DELETE FROM inbound_seen WHERE key_hash = ? AND at < ?", (key_hash, at - window)
        )
    return bool(
        conn.execute(
            "INSERT OR IGNORE INTO inbound_seen (key_hash, at) VALUES (?, ?)", (key_hash, at)
        ).rowcount
    )


def release_key(conn: sqlite3.Connection, key_hash: bytes) -> None:
    conn.execute("DELETE FROM inbound_seen WHERE key_hash = ?", (key_hash,))


UNDECODABLE = "inbound.undecodable"


def add_undecodable(
    conn: sqlite3.Connection, keyring: KeyRing, raw: UndecodableInbound
) -> tuple[str, dict[str, object]] | None:
    """Seal the raw PDU and log an event naming it (no content); None for a re-read."""
    key_hash = keyring.lookup_hash(raw.dedupe_key)
    if not first_sight(conn, key_hash, raw.received_at, raw.dedupe_window):
        return None
    raw_id = new_id("inr")
    conn.execute(
        "INSERT INTO inbound_raw (id, modem, pdu_enc, chars, received_at) VALUES (?, ?, ?, ?, ?)",
        (
            raw_id,
            raw.modem,
            keyring.seal(raw.pdu_hex.encode(), aad=aad("inbound_raw", "pdu", raw_id)),
            len(raw.pdu_hex),
            raw.received_at,
        ),
    )
    detail: dict[str, object] = {"id": raw_id, "chars": len(raw.pdu_hex), "slot": raw.slot}
    insert_event(conn, keyring, raw.received_at, UNDECODABLE, raw.modem, detail)
    return raw_id, detail


def add_part(conn: sqlite3.Connection, keyring: KeyRing, prepared: PreparedPart) -> InboundResult:
    """Store one part; a duplicate changes nothing (not even the conversation)."""
    part = prepared.part
    if not first_sight(conn, prepared.key_hash, part.received_at, part.dedupe_window):
        return InboundResult(inbound=None, duplicate=True)
    if prepared.is_single:
        return InboundResult(inbound=_add_single(conn, prepared), duplicate=False)
    group = (part.modem, prepared.sender_hash, part.concat_ref or 0, part.concat_total or 0)
    stored = conn.execute(
        "INSERT OR IGNORE INTO inbound_parts (id, modem, sender_hash, concat_ref, concat_total, "
        "concat_seq, sender_enc, text_enc, encoding, received_at, sent_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            prepared.row_id,
            *group,
            part.concat_seq or 0,
            prepared.sender_enc,
            prepared.text_enc,
            part.encoding,
            part.received_at,
            part.sent_at,
        ),
    ).rowcount
    if not stored:  # the same part again under another dedupe key (resent by the SMSC)
        return InboundResult(inbound=None, duplicate=True)
    conversation_id = _conversation(conn, prepared)
    have = conn.execute(
        "SELECT count(*) FROM inbound_parts "
        "WHERE modem = ? AND sender_hash = ? AND concat_ref = ? AND concat_total = ?",
        group,
    ).fetchone()[0]
    if have < group[3]:
        return InboundResult(inbound=None, duplicate=False)
    return InboundResult(
        inbound=_assemble(conn, keyring, group, conversation_id, complete=True), duplicate=False
    )


def _add_single(conn: sqlite3.Connection, prepared: PreparedPart) -> Inbound:
    part = prepared.part
    conversation_id = _conversation(conn, prepared)
    _insert_inbound(
        conn,
        (
            prepared.row_id,
            part.modem,
            prepared.sender_enc,
            prepared.text_enc,
            part.encoding,
            part.received_at,
            part.sent_at,
            1,
            1,
            conversation_id,
            part.channel,
            prepared.sender_hash,
        ),
    )
    return Inbound(
        id=prepared.row_id,
        modem=part.modem,
        sender=part.sender,
        text=part.text,
        encoding=part.encoding,
        received_at=part.received_at,
        sent_at=part.sent_at,
        parts=1,
        complete=True,
        conversation_id=conversation_id,
        channel=part.channel,
    )


def _assemble(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    group: tuple[str, bytes, int, int],
    conversation_id: str,
    *,
    complete: bool,
) -> Inbound:
    where = "WHERE modem = ? AND sender_hash = ? AND concat_ref = ? AND concat_total = ?"
    rows = conn.execute(
        "SELECT id, concat_seq, sender_enc, text_enc, encoding, received_at, sent_at "  # noqa: S608
        f"FROM inbound_parts {where} ORDER BY concat_seq",
        group,
    ).fetchall()
    texts: dict[int, str] = {}
    for part_id, seq, _sender_enc, text_enc, *_ in rows:
        texts[seq] = keyring.open(text_enc, aad=aad("inbound_parts", "text", part_id)).decode()
    first = rows[0]
    sender = keyring.open(first[2], aad=aad("inbound_parts", "sender", first[0])).decode()
    total = group[3]
    text = "".join(texts.get(seq, MISSING_PART) for seq in range(1, total + 1))
    inbound_id = new_id("in")
    inbound = Inbound(
        id=inbound_id,
        modem=group[0],
        sender=sender,
        text=text,
        encoding=first[4],
        received_at=max(row[5] for row in rows),
        sent_at=first[6],
        parts=total,
        complete=complete,
        conversation_id=conversation_id,
    )
    _insert_inbound(
        conn,
        (
            inbound_id,
            inbound.modem,
            keyring.seal(sender.encode(), aad=aad("inbound", "sender", inbound_id)),
            keyring.seal(text.encode(), aad=aad("inbound", "text", inbound_id)),
            inbound.encoding,
            inbound.received_at,
            inbound.sent_at,
            total,
            int(complete),
            conversation_id,
            SMS,
            group[1],
        ),
    )
    conn.execute(f"DELETE FROM inbound_parts {where}", group)  # noqa: S608
    return inbound


def release_incomplete(
    conn: sqlite3.Connection, keyring: KeyRing, older_than: float
) -> list[Inbound]:
    groups = conn.execute(
        "SELECT modem, sender_hash, concat_ref, concat_total FROM inbound_parts "
        "GROUP BY modem, sender_hash, concat_ref, concat_total HAVING min(received_at) < ? "
        "ORDER BY min(received_at)",
        (older_than,),
    ).fetchall()
    released = []
    for modem, sender_hash, ref, total in groups:
        conversation = conn.execute(
            "SELECT id FROM conversations WHERE sender_hash = ?", (sender_hash,)
        ).fetchone()
        conversation_id = conversation[0] if conversation else new_id("conv")
        released.append(
            _assemble(
                conn, keyring, (modem, sender_hash, ref, total), conversation_id, complete=False
            )
        )
    return released


def decode_inbound(keyring: KeyRing, row: Sequence[Any]) -> Inbound:
    inbound_id = row[0]
    return Inbound(
        id=inbound_id,
        modem=row[1],
        sender=keyring.open(row[2], aad=aad("inbound", "sender", inbound_id)).decode(),
        text=keyring.open(row[3], aad=aad("inbound", "text", inbound_id)).decode(),
        encoding=row[4],
        received_at=row[5],
        sent_at=row[6],
        parts=row[7],
        complete=bool(row[8]),
        conversation_id=row[9],
        channel=row[10],
        in_reply_to=row[11],
        reply_value=reply_value(keyring, inbound_id, row[12]),
    )


# A key started the conversation with a sender when it sent that number a message before
# the text came. The sender's keyed hash is the recipient hash of the messages to it
# (one keyed hash for every number), so the messages_recipient index answers this.
_STARTED_BY = (
    "EXISTS (SELECT 1 FROM messages WHERE messages.recipient_hash = inbound.sender_hash "
    "AND +messages.api_key_id = ? AND messages.created_at <= inbound.received_at)"
)


def select_inbound(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    *,
    inbound_id: str | None = None,
    sender_hash: bytes | None = None,
    modem: str | None = None,
    before_id: str | None = None,
    owner: str | None = None,
    limit: int = 1,
) -> list[Inbound]:
    """Newest first. ``owner``: an API key id; only replies in conversations it started."""
    where: list[str] = []
    params: list[Any] = []
    for clause, value in (
        ("id = ?", inbound_id),
        ("sender_hash = ?", sender_hash),
        ("modem = ?", modem),
        ("id < ?", before_id),
        (_STARTED_BY, owner),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    condition = f"WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        f"SELECT {_READ_COLUMNS} FROM inbound {condition} ORDER BY id DESC LIMIT ?",  # noqa: S608
        [*params, limit],
    ).fetchall()
    return [decode_inbound(keyring, row) for row in rows]


def select_thread(
    conn: sqlite3.Connection,
    keyring: KeyRing,
    sender_hash: bytes,
    *,
    before: tuple[float, str] | None,
    since: float | None,
    limit: int,
) -> list[Inbound]:
    """A sender's texts (its conversation's), newest first, before (received_at, id) and
    not before ``since``."""
    where = ["sender_hash = ?"]
    params: list[Any] = [sender_hash]
    if before is not None:
        where.append("(received_at, id) < (?, ?)")
        params.extend(before)
    if since is not None:
        where.append("received_at >= ?")
        params.append(since)
    rows = conn.execute(
        f"SELECT {_READ_COLUMNS} FROM inbound WHERE {' AND '.join(where)} "  # noqa: S608
        "ORDER BY received_at DESC, id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [decode_inbound(keyring, row) for row in rows]


class ConversationMap:
    """Sender hash → (modem, last time), mirrored in memory.

    The scheduler asks for the sticky modem of every message it routes; a dict
    lookup spares each of them a round trip to the database. The daemon's store is
    the only writer of ``conversations``, and it updates this map after each commit
    with the same rule the SQL upsert applies."""

    def __init__(self) -> None:
        self._latest: dict[bytes, tuple[str, float]] = {}

    def load(self, conn: sqlite3.Connection) -> None:
        self._latest = {
            bytes(sender_hash): (modem, last_at)
            for sender_hash, modem, last_at in conn.execute(
                "SELECT sender_hash, modem, inbound_at FROM conversations WHERE modem IS NOT NULL"
            )
        }

    def modem(self, sender_hash: bytes) -> str | None:
        found = self._latest.get(sender_hash)
        return None if found is None else found[0]

    def seen(self, sender_hash: bytes, modem: str, at: float) -> None:
        current = self._latest.get(sender_hash)
        if current is None or at >= current[1]:
            self._latest[sender_hash] = (modem, at)

    def forget_before(self, cutoff: float) -> None:
        self._latest = {h: entry for h, entry in self._latest.items() if entry[1] >= cutoff}
