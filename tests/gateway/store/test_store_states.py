"""The message state machine: send, requeue, finish, cancel, and recovery after a crash."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.crypto import KeyRing
from gateway.errors import Conflict, NotCancellable, NotFound
from gateway.store.base import Message, MessageState, Priority, SegmentState
from gateway.store.sqlite import SqliteStore

from .conftest import new_message


async def _get(store: SqliteStore, message_id: str) -> Message:
    found = await store.get_message(message_id)
    assert found is not None
    return found


async def test_two_segment_message_becomes_sent_after_both(store: SqliteStore) -> None:
    m = new_message(segment_count=2)
    await store.add_messages([m])
    await store.segment_sending(m.id, 1, "modem-a")
    assert (await _get(store, m.id)).state is MessageState.SENDING
    assert await store.segment_sent(m.id, 1, "modem-a", 41, 1000.0) is MessageState.SENDING
    await store.segment_sending(m.id, 2, "modem-a")
    assert await store.segment_sent(m.id, 2, "modem-a", 42, 1001.0) is MessageState.SENT
    got = await _get(store, m.id)
    assert got.state is MessageState.SENT
    assert got.sent_at == 1001.0
    assert got.modem == "modem-a"
    assert [(s.state, s.reference) for s in got.segments] == [
        (SegmentState.SENT, 41),
        (SegmentState.SENT, 42),
    ]


async def test_requeue_keeps_error_counts_attempts_and_resends_only_unsent(
    store: SqliteStore,
) -> None:
    m = new_message(segment_count=2)
    await store.add_messages([m])
    await store.segment_sending(m.id, 1, "modem-a")
    await store.segment_sent(m.id, 1, "modem-a", 7, 1000.0)
    await store.segment_sending(m.id, 2, "modem-a")
    await store.requeue(m.id, send_at=2000.0, error_code="cms_500", error_text="CMS ERROR 500")
    got = await _get(store, m.id)
    assert got.state is MessageState.QUEUED
    assert got.attempts == 1
    assert got.send_at == 2000.0
    assert (got.last_error_code, got.last_error_text) == ("cms_500", "CMS ERROR 500")
    assert [s.state for s in got.segments] == [SegmentState.SENT, SegmentState.PENDING]
    [item] = await store.queued()
    assert item.id == m.id
    assert item.attempts == 1
    assert item.to_hash == store.number_hash(m.to)


async def test_a_requeue_the_modem_never_saw_spends_no_attempt(store: SqliteStore) -> None:
    # The modem went away before AT+CMGS: the retry budget is for the message's own failures.
    m = new_message()
    await store.add_messages([m])
    await store.requeue(
        m.id,
        send_at=2000.0,
        error_code="modem_unavailable",
        error_text="modem not ready",
        count_attempt=False,
    )
    got = await _get(store, m.id)
    assert got.attempts == 0
    assert (got.state, got.last_error_code) == (MessageState.QUEUED, "modem_unavailable")


async def test_finish_and_segment_unknown(store: SqliteStore) -> None:
    a, b = new_message(), new_message()
    await store.add_messages([a, b])
    await store.finish(a.id, MessageState.EXPIRED, error_code="expired", error_text="ttl passed")
    got = await _get(store, a.id)
    assert got.state is MessageState.EXPIRED
    assert got.last_error_code == "expired"
    await store.segment_sending(b.id, 1, "modem-b")
    await store.segment_unknown(b.id, 1, "modem-b", "no answer to AT+CMGS")
    got = await _get(store, b.id)
    assert got.state is MessageState.UNKNOWN
    assert got.segments[0].state is SegmentState.UNKNOWN
    assert got.last_error_text == "no answer to AT+CMGS"
    with pytest.raises(Conflict):
        await store.segment_sending(a.id, 1, "modem-a")  # expired: must not go out
    with pytest.raises(NotFound):
        await store.segment_sent("msg_nope", 1, "modem-a", 1, 1.0)


async def test_cancel_only_before_a_modem_has_it(store: SqliteStore) -> None:
    waiting, handed = new_message(), new_message()
    await store.add_messages([waiting, handed])
    cancelled = await store.cancel_message(waiting.id)
    assert cancelled.state is MessageState.CANCELLED
    assert (await store.cancel_message(waiting.id)).state is MessageState.CANCELLED
    assert [item.id for item in await store.queued()] == [handed.id]
    await store.segment_sending(handed.id, 1, "modem-a")
    with pytest.raises(NotCancellable):
        await store.cancel_message(handed.id)
    with pytest.raises(NotFound):
        await store.cancel_message("msg_unknown")


async def test_queued_lists_only_queued_with_scheduler_fields(store: SqliteStore) -> None:
    urgent = new_message(priority=Priority.URGENT, expires_at=time.time() + 60, route="de")
    other = new_message()
    await store.add_messages([urgent, other])
    await store.segment_sending(other.id, 1, "modem-a")
    [item] = await store.queued()
    assert (item.id, item.priority, item.route, item.expires_at) == (
        urgent.id,
        Priority.URGENT,
        "de",
        urgent.expires_at,
    )


async def _crashed_store(db_path: Path, keyring: KeyRing) -> tuple[str, str, str]:
    """Leaves one message mid-send, one still queued, one sent."""
    store = SqliteStore(db_path, keyring)
    await store.open()
    mid_send, waiting, done = new_message(segment_count=2), new_message(), new_message()
    await store.add_messages([mid_send, waiting, done])
    await store.segment_sending(mid_send.id, 1, "modem-a")
    await store.segment_sent(mid_send.id, 1, "modem-a", 3, 1000.0)
    await store.segment_sending(mid_send.id, 2, "modem-a")
    await store.segment_sending(done.id, 1, "modem-a")
    await store.segment_sent(done.id, 1, "modem-a", 4, 1000.0)
    await store.close()  # the daemon dies here; the rows are as it left them
    return mid_send.id, waiting.id, done.id


async def test_recover_turns_sending_into_unknown(db_path: Path, keyring: KeyRing) -> None:
    mid_send, waiting, done = await _crashed_store(db_path, keyring)
    store = SqliteStore(db_path, keyring)
    await store.open()
    try:
        report = await store.recover(resend_unknown=False)
        assert report.unknown_segments == 1
        assert report.requeued_messages == 0
        got = await _get(store, mid_send)
        assert got.state is MessageState.UNKNOWN
        assert [s.state for s in got.segments] == [SegmentState.SENT, SegmentState.UNKNOWN]
        assert (await _get(store, done)).state is MessageState.SENT
        assert [item.id for item in await store.queued()] == [waiting]
    finally:
        await store.close()


async def test_recover_with_resend_requeues(db_path: Path, keyring: KeyRing) -> None:
    mid_send, _waiting, _done = await _crashed_store(db_path, keyring)
    store = SqliteStore(db_path, keyring)
    await store.open()
    try:
        report = await store.recover(resend_unknown=True)
        assert report.unknown_segments == 1
        assert report.requeued_messages == 1
        got = await _get(store, mid_send)
        assert got.state is MessageState.QUEUED
        assert got.attempts == 1
        assert [s.state for s in got.segments] == [SegmentState.SENT, SegmentState.PENDING]
    finally:
        await store.close()


async def test_recover_requeues_sending_message_with_nothing_in_flight(
    db_path: Path, store: SqliteStore
) -> None:
    m = new_message(segment_count=2)
    await store.add_messages([m])
    await store.segment_sending(m.id, 1, "modem-a")
    await store.segment_sent(m.id, 1, "modem-a", 9, 1000.0)  # message still `sending`
    report = await store.recover(resend_unknown=False)
    assert report.requeued_messages == 1
    assert report.unknown_segments == 0
    assert (await _get(store, m.id)).state is MessageState.QUEUED
