"""The store's writer looks for its file once per transaction, not once per caller."""

from __future__ import annotations

import asyncio

from gateway.store.sqlite import SqliteStore
from tests.gateway.store.conftest import new_message


async def test_the_file_is_checked_once_per_group_commit(store: SqliteStore) -> None:
    writer = store._writer
    assert writer is not None
    assert writer.refuse is not None
    check = writer.refuse
    checks = 0

    def counted() -> None:
        nonlocal checks
        checks += 1
        check()

    writer.refuse = counted
    before = store.commit_count
    calls = 50
    await asyncio.gather(*(store.add_messages([new_message()]) for _ in range(calls)))
    commits = store.commit_count - before
    assert commits < calls
    assert checks == commits  # before: one os.stat per caller as well
