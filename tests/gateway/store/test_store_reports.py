"""Status reports: matched on modem, TP-MR, recent send and trailing digits."""

from __future__ import annotations

from gateway.store.base import MessageState, SegmentState
from gateway.store.reports import MATCH_WINDOW_SECONDS
from gateway.store.sqlite import SqliteStore

from .conftest import new_message

DAY = 24 * 3600.0


async def _sent(
    store: SqliteStore, to: str, reference: int, at: float, segments: int = 1, modem: str = "m1"
) -> str:
    m = new_message(to=to, segment_count=segments)
    await store.add_messages([m])
    for seq in range(1, segments + 1):
        await store.segment_sending(m.id, seq, modem)
        await store.segment_sent(m.id, seq, modem, (reference + seq - 1) % 256, at)
    return m.id


async def test_delivered_report_in_national_format(store: SqliteStore) -> None:
    mid = await _sent(store, "+4915112345678", 200, 1000.0)
    result = await store.apply_report("m1", 200, "015112345678", 0x00, 1005.0)
    assert (result.message_id, result.message_state) == (mid, MessageState.DELIVERED)
    got = await store.get_message(mid)
    assert got is not None
    assert got.delivered_at == 1005.0
    assert got.segments[0].state is SegmentState.DELIVERED
    assert got.segments[0].report_status == 0


async def test_wrapped_reference_prefers_number_then_recency(store: SqliteStore) -> None:
    t0 = 1_000_000.0
    older_same_number = await _sent(store, "+33612345678", 5, t0)
    other_patient = await _sent(store, "+33698765432", 5, t0 + 3600)  # MR wrapped since
    too_old = await _sent(store, "+33611112222", 5, t0 - MATCH_WINDOW_SECONDS - DAY)

    first = await store.apply_report("m1", 5, "+33612345678", 0x00, t0 + 2 * 3600)
    assert first.message_id == older_same_number  # the newer send is to someone else
    second = await store.apply_report("m1", 5, "0698765432", 0x00, t0 + 2 * 3600)
    assert second.message_id == other_patient
    stale = await store.apply_report("m1", 5, "+33611112222", 0x00, t0 + 2 * 3600)
    assert stale.message_id is None  # outside the window: not this old send
    got = await store.get_message(too_old)
    assert got is not None
    assert got.state is MessageState.SENT


async def test_newest_of_two_sends_to_same_number_wins(store: SqliteStore) -> None:
    old = await _sent(store, "+12025550143", 9, 1000.0)
    new = await _sent(store, "+12025550143", 9, 2000.0)
    result = await store.apply_report("m1", 9, "+12025550143", 0x00, 2100.0)
    assert result.message_id == new
    got = await store.get_message(old)
    assert got is not None
    assert got.state is MessageState.SENT


async def test_pending_then_failed_report(store: SqliteStore) -> None:
    mid = await _sent(store, "+4915112345678", 77, 1000.0)
    pending = await store.apply_report("m1", 77, "+4915112345678", 0x30, 1010.0)
    assert pending.message_state is MessageState.SENT
    got = await store.get_message(mid)
    assert got is not None
    assert got.segments[0].report_status == 0x30
    assert got.segments[0].state is SegmentState.SENT
    failed = await store.apply_report("m1", 77, "+4915112345678", 0x41, 1020.0)
    assert failed.message_state is MessageState.FAILED
    got = await store.get_message(mid)
    assert got is not None
    assert got.last_error_code == "report_failed"
    assert "0x41" in (got.last_error_text or "")
    assert got.segments[0].state is SegmentState.FAILED


async def test_message_delivered_only_when_every_segment_is(store: SqliteStore) -> None:
    mid = await _sent(store, "+4915112345678", 10, 1000.0, segments=2)
    first = await store.apply_report("m1", 10, "+4915112345678", 0x00, 1001.0)
    assert (first.message_id, first.message_state) == (mid, MessageState.SENT)
    second = await store.apply_report("m1", 11, "+4915112345678", 0x00, 1002.0)
    assert second.message_state is MessageState.DELIVERED


async def test_unmatched_reports_are_kept_and_counted(store: SqliteStore) -> None:
    await _sent(store, "+4915112345678", 12, 1000.0)
    misses = [
        ("m2", 12, "+4915112345678"),  # other modem
        ("m1", 13, "+4915112345678"),  # other reference
        ("m1", 12, "+4915199999999"),  # other number
    ]
    for modem, reference, number in misses:
        result = await store.apply_report(modem, reference, number, 0x00, 1001.0)
        assert result.message_id is None
        assert result.message_state is None
    assert await store.unmatched_reports() == 3
    assert (await store.stats())["unmatched_reports"] == 3
