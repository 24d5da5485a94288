"""Inbound: dedupe, reassembly in any order, release after timeout, conversations."""

from __future__ import annotations

from pathlib import Path

from gateway.crypto import KeyRing
from gateway.store.base import InboundPart
from gateway.store.inbound import MISSING_PART
from gateway.store.sqlite import SqliteStore

SENDER = "+447700900123"


def _part(
    text: str,
    key: str,
    *,
    seq: int | None = None,
    total: int | None = None,
    ref: int | None = None,
    at: float = 1000.0,
    modem: str = "m1",
    sender: str = SENDER,
) -> InboundPart:
    return InboundPart(modem, sender, text, "gsm7", at, at - 5, key, ref, total, seq)


async def test_single_part_is_stored_at_once_and_dedupes(store: SqliteStore) -> None:
    first = await store.add_inbound(_part("Yes, confirmed", "k1"))
    assert not first.duplicate
    assert first.inbound is not None
    assert first.inbound.complete
    assert first.inbound.parts == 1
    assert await store.get_inbound(first.inbound.id) == first.inbound
    again = await store.add_inbound(_part("Yes, confirmed", "k1"))
    assert again.duplicate
    assert again.inbound is None
    page = await store.list_inbound(sender=None, modem=None, cursor=None, limit=10)
    assert len(page.items) == 1


async def test_parts_reassemble_out_of_order(store: SqliteStore) -> None:
    texts = {1: "Part one, ", 2: "part two, ", 3: "part three."}
    results = []
    for seq in (3, 1, 2):
        results.append(
            await store.add_inbound(_part(texts[seq], f"p{seq}", seq=seq, total=3, ref=44))
        )
    assert [r.inbound for r in results[:2]] == [None, None]
    done = results[2].inbound
    assert done is not None
    assert done.text == "Part one, part two, part three."
    assert done.complete
    assert done.parts == 3
    assert done.sender == SENDER
    assert (await store.stats())["inbound_parts_waiting"] == 0
    # A part read again after the crash-before-delete window is a no-op.
    assert (await store.add_inbound(_part(texts[2], "p2", seq=2, total=3, ref=44))).duplicate


async def test_same_ref_from_different_senders_stays_apart(store: SqliteStore) -> None:
    await store.add_inbound(_part("A1", "a1", seq=1, total=2, ref=7))
    await store.add_inbound(_part("B1", "b1", seq=1, total=2, ref=7, sender="+447700900999"))
    done = await store.add_inbound(_part("A2", "a2", seq=2, total=2, ref=7))
    assert done.inbound is not None
    assert done.inbound.text == "A1A2"


async def test_release_incomplete_marks_missing_parts(store: SqliteStore) -> None:
    await store.add_inbound(_part("start ", "r1", seq=1, total=3, ref=9, at=1000.0))
    await store.add_inbound(_part(" end", "r3", seq=3, total=3, ref=9, at=1001.0))
    await store.add_inbound(_part("fresh", "f1", seq=1, total=2, ref=10, at=5000.0))
    assert await store.release_incomplete(older_than=1000.0) == []
    [released] = await store.release_incomplete(older_than=2000.0)
    assert released.text == f"start {MISSING_PART} end"
    assert not released.complete
    assert released.parts == 3
    assert await store.get_inbound(released.id) == released
    assert (await store.stats())["inbound_parts_waiting"] == 1  # the fresh one waits on


async def test_conversations_follow_the_sender(store: SqliteStore) -> None:
    a = await store.add_inbound(_part("hi", "c1", modem="m1", at=1000.0))
    b = await store.add_inbound(_part("again", "c2", modem="m2", at=2000.0))
    other = await store.add_inbound(_part("me too", "c3", sender="+15550100", at=2500.0))
    assert a.inbound
    assert b.inbound
    assert other.inbound
    assert a.inbound.conversation_id == b.inbound.conversation_id
    assert other.inbound.conversation_id != a.inbound.conversation_id
    assert await store.conversation_modem(store.number_hash(SENDER)) == "m2"
    assert await store.conversation_modem(store.number_hash("+19999999999")) is None


async def test_list_inbound_filters_and_pages(store: SqliteStore) -> None:
    ids = []
    for i in range(5):
        sender = SENDER if i % 2 == 0 else "+15550100"
        result = await store.add_inbound(
            _part(f"t{i}", f"l{i}", sender=sender, modem=f"m{i % 3}", at=1000.0 + i)
        )
        assert result.inbound is not None
        ids.append(result.inbound.id)
    first = await store.list_inbound(sender=SENDER, modem=None, cursor=None, limit=2)
    assert [i.id for i in first.items] == [ids[4], ids[2]]
    assert first.next_cursor is not None
    rest = await store.list_inbound(sender=SENDER, modem=None, cursor=first.next_cursor, limit=2)
    assert [i.id for i in rest.items] == [ids[0]]
    assert rest.next_cursor is None
    by_modem = await store.list_inbound(sender=None, modem="m1", cursor=None, limit=10)
    assert [i.id for i in by_modem.items] == [ids[4], ids[1]]


async def test_conversation_modem_survives_reopen_and_purge_forgets(
    db_path: Path, keyring: KeyRing
) -> None:
    first = SqliteStore(db_path, keyring)
    await first.open()
    await first.add_inbound(_part("hello", "s1", modem="m2", at=100.0))
    await first.add_inbound(_part("later", "s2", modem="m3", at=5000.0, sender="+15550100"))
    await first.close()
    second = SqliteStore(db_path, keyring)
    await second.open()
    try:
        assert await second.conversation_modem(second.number_hash(SENDER)) == "m2"
        await second.purge(older_than=1000.0)
        assert await second.conversation_modem(second.number_hash(SENDER)) is None
        assert await second.conversation_modem(second.number_hash("+15550100")) == "m3"
    finally:
        await second.close()


async def test_duplicate_part_does_not_move_the_conversation(store: SqliteStore) -> None:
    await store.add_inbound(_part("one", "d1", seq=1, total=2, ref=3, modem="m1", at=1000.0))
    again = await store.add_inbound(
        _part("one", "other-key", seq=1, total=2, ref=3, modem="m1", at=2000.0)
    )
    assert again.duplicate
    await store.add_inbound(_part("x", "d9", modem="m2", at=1500.0))
    assert await store.conversation_modem(store.number_hash(SENDER)) == "m2"
