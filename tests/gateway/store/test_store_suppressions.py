"""The opt-out list: by keyed hash, one entry per (number, category), changes notified in
their own commit, and a keyword's change committed with the text that carried it."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.crypto import KeyRing
from gateway.errors import NotFound
from gateway.store.base import ConsentChange, InboundPart
from gateway.store.sqlite import SqliteStore

from .conftest import RecordingFanout, Wakes, key_ids_in_use, outbox_rows

PATIENT = "+447700900123"
OTHER = "+447700900124"
CONSENT_KINDS = frozenset({"consent.opted_out", "consent.opted_in", "inbound.received"})


@pytest.fixture
def fanout() -> RecordingFanout:
    return RecordingFanout(wanted=CONSENT_KINDS)


@pytest.fixture
async def store(db_path: Path, keyring: KeyRing) -> AsyncIterator[SqliteStore]:
    """A store with the consent rule the daemon gives it (STOP and START only, here)."""
    opened = SqliteStore(db_path, keyring, consent=stop_or_start)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def evented(
    db_path: Path, keyring: KeyRing, fanout: RecordingFanout, wakes: Wakes
) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(db_path, keyring, fanout=fanout, on_outbox=wakes, consent=stop_or_start)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def kinds(db_path: Path) -> list[str]:
    return [kind for _, kind, _, _ in outbox_rows(db_path)]


def stop_or_start(text: str) -> ConsentChange | None:
    return {"STOP": ConsentChange(True, None), "START": ConsentChange(False, None)}.get(text)


def part(text: str, key: str, at: float = 1000.0) -> InboundPart:
    return InboundPart("m1", PATIENT, text, "gsm7", at, at - 5, key)


async def test_entries_are_kept_once_per_number_and_category(store: SqliteStore) -> None:
    everything, created = await store.add_suppression(PATIENT, None, source="api", reason="desk")
    assert created
    survey, _ = await store.add_suppression(PATIENT, "survey", source="api", reason=None)
    again, created = await store.add_suppression(PATIENT, None, source="keyword", reason=None)
    assert (again, created) == (everything, False)
    await store.add_suppression(OTHER, "marketing", source="api", reason=None)
    assert await store.suppressions_for(PATIENT) == [everything, survey]
    found = await store.suppressed_categories(
        [store.number_hash(PATIENT), store.number_hash(OTHER), store.number_hash("+15550000000")]
    )
    assert found == {
        store.number_hash(PATIENT): frozenset({None, "survey"}),
        store.number_hash(OTHER): frozenset({"marketing"}),
    }
    page = await store.list_suppressions(cursor=None, limit=2)
    assert len(page.items) == 2
    assert page.next_cursor is not None
    rest = await store.list_suppressions(cursor=page.next_cursor, limit=2)
    assert [e.id for e in (*page.items, *rest.items)] == sorted(
        (e.id for e in (*page.items, *rest.items)), reverse=True
    )
    assert await store.remove_suppression(survey.id) == survey
    with pytest.raises(NotFound):
        await store.remove_suppression(survey.id)
    assert await store.suppressions_for(PATIENT) == [everything]


async def test_numbers_are_stored_by_keyed_hash_never_in_clear(
    store: SqliteStore, db_path: Path, keyring: KeyRing
) -> None:
    await store.add_suppression(PATIENT, None, source="api", reason="phoned in")
    raw = sqlite3.connect(db_path)
    try:
        ((number_hash, number_enc),) = raw.execute(
            "SELECT number_hash, number_enc FROM suppressions"
        ).fetchall()
    finally:
        raw.close()
    assert bytes(number_hash) == keyring.lookup_hash(PATIENT)
    assert PATIENT.lstrip("+").encode() not in bytes(number_enc)


async def test_each_change_notifies_in_its_own_commit(
    evented: SqliteStore, db_path: Path, wakes: Wakes, fanout: RecordingFanout
) -> None:
    commits = evented.commit_count
    entry, _ = await evented.add_suppression(PATIENT, None, source="api", reason=None)
    assert evented.commit_count == commits + 1
    await evented.add_suppression(PATIENT, None, source="api", reason=None)  # no change
    await evented.remove_suppression(entry.id)
    assert kinds(db_path) == ["consent.opted_out", "consent.opted_in"]
    assert wakes.count == 2
    assert [c.suppression for c in fanout.built] == [entry, entry]


async def test_a_keyword_changes_the_list_in_the_commit_that_stores_the_text(
    evented: SqliteStore, db_path: Path
) -> None:
    commits = evented.commit_count
    stop = await evented.add_inbound(part("STOP", "k1"))
    assert evented.commit_count == commits + 1
    assert stop.consent is not None
    [entry] = stop.consent.suppressions
    assert (entry.number, entry.category, entry.source, entry.modem) == (
        PATIENT,
        None,
        "keyword",
        "m1",
    )
    assert kinds(db_path) == ["inbound.received", "consent.opted_out"]

    reread = await evented.add_inbound(part("STOP", "k1"))
    assert reread.duplicate
    assert reread.consent is None
    chat = await evented.add_inbound(part("see you then", "k2"))
    assert chat.consent is None
    assert await evented.suppressions_for(PATIENT) == [entry]

    start = await evented.add_inbound(part("START", "k3", at=1001.0))
    assert start.consent is not None
    assert start.consent.suppressions == (entry,)
    assert await evented.suppressions_for(PATIENT) == []
    assert kinds(db_path)[-1] == "consent.opted_in"


async def test_key_rotation_reseals_the_list_and_lookups_survive(
    store: SqliteStore, db_path: Path, key_path: Path, keyring: KeyRing
) -> None:
    entry, _ = await store.add_suppression(PATIENT, "survey", source="api", reason="phoned in")
    new_id = keyring.rotate(key_path)
    assert await store.rotate_key(batch=5) == 1
    assert key_ids_in_use(db_path) == {new_id}
    assert await store.suppressions_for(PATIENT) == [entry]


async def test_the_gate_reads_the_list_from_memory_and_a_reopen_reloads_it(
    store: SqliteStore, db_path: Path, keyring: KeyRing
) -> None:
    kept, _ = await store.add_suppression(PATIENT, "survey", source="api", reason=None)
    gone, _ = await store.add_suppression(OTHER, None, source="api", reason=None)
    await store.remove_suppression(gone.id)
    await store.add_inbound(part("STOP", "k1"))
    hashes = [store.number_hash(PATIENT), store.number_hash(OTHER)]
    expected = {store.number_hash(PATIENT): frozenset({"survey", None})}
    assert await store.suppressed_categories(hashes) == expected
    await store.close()
    reopened = SqliteStore(db_path, keyring, consent=stop_or_start)
    await reopened.open()
    try:
        assert await reopened.suppressed_categories(hashes) == expected
        await reopened.add_inbound(part("START", "k2", at=1001.0))
        assert await reopened.suppressed_categories(hashes) == {}
        assert kept not in await reopened.suppressions_for(PATIENT)
    finally:
        await reopened.close()


async def test_without_a_consent_rule_a_stop_is_only_a_text(
    db_path: Path, keyring: KeyRing
) -> None:
    plain = SqliteStore(db_path, keyring)
    await plain.open()
    try:
        result = await plain.add_inbound(part("STOP", "k1"))
        assert result.inbound is not None
        assert result.consent is None
        assert await plain.suppressions_for(PATIENT) == []
    finally:
        await plain.close()
