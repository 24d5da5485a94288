"""Every final state notifies: expired, cancelled and unknown, each in its change's commit."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.store.base import MessageState
from gateway.store.sqlite import SqliteStore

from .conftest import RecordingFanout, Wakes, new_message, outbox_rows

FINAL_KINDS = frozenset({"message.expired", "message.cancelled", "message.unknown"})


@pytest.fixture
def fanout() -> RecordingFanout:
    return RecordingFanout(wanted=FINAL_KINDS)


def kinds(db_path: Path) -> list[tuple[str, str | None]]:
    return [(kind, source) for _, kind, source, _ in outbox_rows(db_path)]


async def test_expiry_notifies_in_the_same_commit(
    evented: SqliteStore, db_path: Path, wakes: Wakes
) -> None:
    m = new_message()
    await evented.add_messages([m])
    commits = evented.commit_count
    await evented.finish(m.id, MessageState.EXPIRED, error_code="expired", error_text="expired")
    assert evented.commit_count == commits + 1
    assert kinds(db_path) == [("message.expired", m.id)]
    assert wakes.count == 1


async def test_a_cancel_notifies_once_even_when_repeated(
    evented: SqliteStore, db_path: Path, fanout: RecordingFanout, wakes: Wakes
) -> None:
    m = new_message()
    await evented.add_messages([m])
    for _ in range(2):
        cancelled = await evented.cancel_message(m.id)
        assert cancelled.state is MessageState.CANCELLED
    assert kinds(db_path) == [("message.cancelled", m.id)]
    assert fanout.built[0].message is not None
    assert fanout.built[0].message.state is MessageState.CANCELLED
    assert wakes.count == 1


async def test_a_send_with_no_answer_notifies_unknown(evented: SqliteStore, db_path: Path) -> None:
    m = new_message()
    await evented.add_messages([m])
    await evented.segment_sending(m.id, 1, "m1")
    await evented.segment_unknown(m.id, 1, "m1", "no answer to AT+CMGS")
    assert kinds(db_path) == [("message.unknown", m.id)]


async def test_recovery_after_a_crash_notifies_unknown_unless_resending(
    evented: SqliteStore, db_path: Path
) -> None:
    lost, resent = new_message(), new_message()
    await evented.add_messages([lost, resent])
    await evented.segment_sending(lost.id, 1, "m1")
    report = await evented.recover(resend_unknown=False)
    assert report.unknown_segments == 1
    assert kinds(db_path) == [("message.unknown", lost.id)]
    await evented.segment_sending(resent.id, 1, "m1")
    await evented.recover(resend_unknown=True)  # queued again: not an outcome
    assert kinds(db_path) == [("message.unknown", lost.id)]


async def test_a_final_state_nobody_wants_builds_nothing(
    evented: SqliteStore, db_path: Path, fanout: RecordingFanout, wakes: Wakes
) -> None:
    fanout.wanted = frozenset()
    m = new_message()
    await evented.add_messages([m])
    await evented.cancel_message(m.id)
    assert fanout.asked == ["message.cancelled"]
    assert (fanout.built, outbox_rows(db_path), wakes.count) == ([], [], 0)
