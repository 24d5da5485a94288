"""Events commit with their cause: the outbox rows a change writes, in its own transaction."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from gateway.store.base import (
    DELIVERED,
    Attempt,
    InboundPart,
    MessageState,
)
from gateway.store.sqlite import SqliteStore

from .conftest import BODY, NUMBER, RecordingFanout, Wakes, new_message, outbox_rows


async def test_sent_writes_its_event_in_the_same_commit(
    evented: SqliteStore, db_path: Path, wakes: Wakes
) -> None:
    m = new_message()
    await evented.add_messages([m])
    await evented.segment_sending(m.id, 1, "m1")
    commits = evented.commit_count
    assert await evented.segment_sent(m.id, 1, "m1", 7, 1000.0) is MessageState.SENT
    assert evented.commit_count == commits + 1
    [(receiver, kind, source, sealed)] = outbox_rows(db_path)
    assert (receiver, kind, source) == ("sub_1", "message.sent", m.id)
    assert BODY.encode() not in sealed
    assert NUMBER.encode() not in sealed
    assert wakes.count == 1
    [due], next_at = await evented.due_deliveries(2e9, 10)
    assert due.payload == f"{due.id}:{BODY}".encode()
    assert next_at is not None


async def test_a_failing_fanout_rolls_the_change_back(
    evented: SqliteStore, db_path: Path, fanout: RecordingFanout, wakes: Wakes
) -> None:
    m = new_message()
    await evented.add_messages([m])
    await evented.segment_sending(m.id, 1, "m1")
    fanout.fail = True
    with pytest.raises(RuntimeError):
        await evented.segment_sent(m.id, 1, "m1", 7, 1000.0)
    found = await evented.get_message(m.id)
    assert found is not None
    assert found.state is MessageState.SENDING
    assert outbox_rows(db_path) == []
    assert wakes.count == 0


async def test_no_event_is_built_when_nobody_wants_it(
    evented: SqliteStore, db_path: Path, fanout: RecordingFanout, wakes: Wakes
) -> None:
    fanout.wanted = frozenset()
    m = new_message()
    await evented.add_messages([m])
    await evented.segment_sending(m.id, 1, "m1")
    await evented.segment_sent(m.id, 1, "m1", 7, 1000.0)
    await evented.add_event("modem.up", "m1", {})
    assert fanout.asked == ["message.sent", "modem.up"]
    assert fanout.built == []
    assert outbox_rows(db_path) == []
    assert wakes.count == 0


async def test_a_report_applied_twice_notifies_once(evented: SqliteStore, db_path: Path) -> None:
    m = new_message()
    await evented.add_messages([m])
    await evented.segment_sending(m.id, 1, "m1")
    await evented.segment_sent(m.id, 1, "m1", 7, 1000.0)
    for _ in range(2):
        result = await evented.apply_report("m1", 7, NUMBER, 0x00, 1010.0)
        assert result.message_state is MessageState.DELIVERED
    kinds = [kind for _, kind, _, _ in outbox_rows(db_path)]
    assert kinds == ["message.sent", "message.delivered"]


async def test_finish_inbound_and_modem_changes_notify(
    evented: SqliteStore, db_path: Path, fanout: RecordingFanout
) -> None:
    m = new_message()
    await evented.add_messages([m])
    await evented.finish(m.id, MessageState.FAILED, error_code="x", error_text="y")
    stored = await evented.add_inbound(
        InboundPart("m1", NUMBER, "Yes", "gsm7", 1000.0, None, "dedupe-1")
    )
    assert stored.inbound is not None
    await evented.add_event("modem.down", "m1", {"reason": "unplugged"})
    await evented.add_event("modem.reset", "m1", {})  # not a kind that notifies
    await evented.add_event("modem.down", None, {})  # no modem: nothing to say
    kinds = [kind for _, kind, _, _ in outbox_rows(db_path)]
    assert kinds == ["message.failed", "inbound.received", "modem.down"]
    modem_change = fanout.built[-1]
    assert (modem_change.modem, modem_change.detail) == ("m1", {"reason": "unplugged"})
    assert fanout.built[1].number_hash == evented.number_hash(NUMBER)


async def test_deliveries_record_their_attempts_and_purge(
    evented: SqliteStore, db_path: Path
) -> None:
    await evented.add_event("modem.down", "m1", {})
    [due], _ = await evented.due_deliveries(2e9, 10)
    await evented.record_attempt(
        due.id, Attempt(1000.0, 1, 200, None, 0.01), state=DELIVERED, next_at=None
    )
    assert await evented.delivery_counts() == {"pending": 0, "delivered": 1, "dead": 0}
    page = await evented.list_deliveries("sub_1", state=None, cursor=None, limit=10)
    [delivery] = page.items
    assert (delivery.state, [a.status for a in delivery.history]) == (DELIVERED, [200])
    assert await evented.due_deliveries(2e9, 10) == ([], None)
    assert await evented.purge_deliveries(2e9) == 1
    assert outbox_rows(db_path) == []


async def test_each_connection_is_used_by_one_thread_of_its_own(evented: SqliteStore) -> None:
    def thread_of(conn: sqlite3.Connection) -> int:
        return threading.get_ident()

    writes = {await evented._write(thread_of) for _ in range(3)}
    reads = {await evented._read(thread_of) for _ in range(3)}
    assert len(writes) == len(reads) == 1
    assert writes != reads
    assert threading.get_ident() not in writes | reads
