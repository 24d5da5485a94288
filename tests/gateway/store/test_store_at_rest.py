"""At rest: no body, number or token in any file of the data directory; files private."""

from __future__ import annotations

import os
import time
from pathlib import Path

from gateway.crypto import KeyRing
from gateway.store.base import InboundPart, MessageFilter, Scope
from gateway.store.sqlite import SqliteStore

from .conftest import BODY, NUMBER, file_mode, new_message

SENDER = "+447700900123"
INBOUND_TEXT = "Can I move my blood test to Friday afternoon please"
PART_TEXTS = ("Second question: does the clinic ", "open on Saturdays for vaccinations?")
METADATA_SECRET = "chart-889104-allergy-penicillin"
REASON = "asked-at-the-desk-after-her-biopsy"  # an opt-out's reason, typed by staff
TAG = "appointment-tag-31337"


def _secrets(token: str) -> list[bytes]:
    needles = [BODY, INBOUND_TEXT, *PART_TEXTS, METADATA_SECRET, REASON, TAG]
    needles.append(token.split("_", 3)[3])
    for number in (NUMBER, SENDER):
        needles += [number, number.lstrip("+"), number[-9:]]
    return [needle.encode() for needle in needles]


def _assert_nothing_in_clear(data_dir: Path, needles: list[bytes], seen: bytes) -> list[str]:
    """``seen``: bytes stored as they are (a keyed hash), proof the scan sees the rows."""
    names = []
    found = False
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            names.append(path.name)
            raw = path.read_bytes()
            found |= seen in raw
            for needle in needles:
                assert needle not in raw, f"{needle!r} found in clear in {path.name}"
    assert found
    return names


async def _fill(store: SqliteStore) -> str:
    await store.add_messages([new_message(metadata={"chart": METADATA_SECRET}, tags=(TAG,))])
    now = time.time()
    await store.add_inbound(
        InboundPart("modem-a", SENDER, INBOUND_TEXT, "gsm7", now, None, "dedupe-1")
    )
    # Two halves of two different long texts: both wait in inbound_parts.
    await store.add_inbound(
        InboundPart("modem-a", SENDER, PART_TEXTS[0], "gsm7", now, None, "p1", 9, 2, 1)
    )
    await store.add_inbound(
        InboundPart("modem-a", SENDER, PART_TEXTS[1], "gsm7", now, None, "q2", 10, 2, 2)
    )
    await store.add_event("modem.error", "modem-a", {"quoted": SENDER})
    await store.add_suppression(SENDER, "survey", source="api", reason=REASON)
    _, token = await store.create_api_key("ehr", frozenset({Scope.SEND}))
    return token


async def test_no_phi_in_any_file_before_and_after_close(
    data_dir: Path, db_path: Path, keyring: KeyRing
) -> None:
    store = SqliteStore(db_path, keyring)
    await store.open()
    try:
        token = await _fill(store)
        needles = _secrets(token)
        # While open, everything committed is still in the write-ahead log.
        seen = keyring.lookup_hash(NUMBER)
        names = _assert_nothing_in_clear(data_dir, needles, seen)
        assert {"smsgw.db", "smsgw.db-wal", "smsgw.db-shm"} <= set(names)
        assert (data_dir / "smsgw.db-wal").stat().st_size > 0
        # The values are there, only sealed.
        page = await store.list_messages(MessageFilter(to=NUMBER), cursor=None, limit=5)
        assert page.items[0].body == BODY
    finally:
        await store.close()
    _assert_nothing_in_clear(data_dir, needles, seen)


async def test_database_files_and_key_file_are_private(
    data_dir: Path, db_path: Path, keyring: KeyRing
) -> None:
    # Under a permissive umask SQLite alone would create the files 0644.
    previous = os.umask(0o022)
    try:
        store = SqliteStore(db_path, keyring)
        await store.open()
        try:
            await store.add_messages([new_message()])
            for name in ("key.json", "smsgw.db", "smsgw.db-wal", "smsgw.db-shm"):
                mode = file_mode(data_dir / name)
                assert mode == 0o600, f"{name} has mode {mode:o}"
        finally:
            await store.close()
    finally:
        os.umask(previous)


async def test_open_tightens_a_too_open_existing_database(db_path: Path, keyring: KeyRing) -> None:
    store = SqliteStore(db_path, keyring)
    await store.open()
    await store.close()
    os.chmod(db_path, 0o644)
    await store.open()
    try:
        assert file_mode(db_path) == 0o600
    finally:
        await store.close()
