"""Send counts for the rate windows: written with the segment's `sending` state, read at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.crypto import KeyRing
from gateway.errors import Conflict
from gateway.store.base import RateMark
from gateway.store.sqlite import SqliteStore

from .conftest import new_message


async def test_a_send_is_counted_with_its_sending_state(
    store: SqliteStore, db_path: Path, keyring: KeyRing
) -> None:
    m = new_message()
    await store.add_messages([m])
    await store.segment_sending(m.id, 1, "modem-a", rate=RateMark(at=1000.0, forget_before=0.0))
    assert await store.rate_sends("modem-a", since=0.0) == [1000.0]
    assert await store.rate_sends("modem-b", since=0.0) == []
    await store.close()
    reopened = SqliteStore(db_path, keyring)
    await reopened.open()
    try:
        assert await reopened.rate_sends("modem-a", since=0.0) == [1000.0]
    finally:
        await reopened.close()


async def test_a_refused_send_is_not_counted(store: SqliteStore) -> None:
    m = new_message()
    await store.add_messages([m])
    await store.cancel_message(m.id)
    with pytest.raises(Conflict):
        await store.segment_sending(m.id, 1, "modem-a", rate=RateMark(1000.0, 0.0))
    assert await store.rate_sends("modem-a", since=0.0) == []


async def test_sends_out_of_every_window_are_forgotten(store: SqliteStore) -> None:
    a, b, c = new_message(), new_message(), new_message()
    await store.add_messages([a, b, c])
    await store.segment_sending(a.id, 1, "modem-a", rate=RateMark(1000.0, 0.0))
    await store.segment_sending(b.id, 1, "modem-b", rate=RateMark(1500.0, 0.0))
    await store.segment_sending(c.id, 1, "modem-a", rate=RateMark(5000.0, forget_before=2000.0))
    assert await store.rate_sends("modem-a", since=0.0) == [5000.0]
    assert await store.rate_sends("modem-b", since=0.0) == [1500.0]  # another modem's own
    assert await store.rate_sends("modem-b", since=1500.0) == []
