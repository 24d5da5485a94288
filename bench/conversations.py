"""The staff inbox's reads at size: a page of conversations and a thread, and what
conversations add to intake.

A store in a temporary directory gets ``--numbers`` distinct recipients (one message
each, in batches of 1,000 through ``add_messages``, as the API's batches arrive), then
the same numbers again (their conversations exist: the common case of a clinic's
patients). It prints the intake time per 1,000 of both passes, then the median time of
the first page of ``list_conversations``, a page deep in the cursor chain, the same for
a key that sent a tenth of the messages, and a patient's thread.

    .venv/bin/python bench/conversations.py [--numbers 100000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gateway.crypto import KeyRing
from gateway.ids import new_id
from gateway.store.base import NewMessage, Priority
from gateway.store.sqlite import SqliteStore

BATCH = 1000
BODY = "Reminder: your appointment at the clinic is tomorrow at 9:30. Reply C to confirm."


def _batch(numbers: list[str], owner: str | None) -> list[NewMessage]:
    now = time.time()
    return [
        NewMessage(
            id=new_id("msg"),
            to=number,
            body=BODY,
            priority=Priority.BULK,
            send_at=now,
            expires_at=None,
            encoding="gsm7",
            segment_count=1,
            concat_ref=1,
            request_report=True,
            route=None,
            api_key_id=owner if index % 10 == 0 else None,
        )
        for index, number in enumerate(numbers)
    ]


async def _intake(store: SqliteStore, numbers: list[str], owner: str) -> float:
    """Milliseconds per 1,000 messages, median over the batches."""
    times = []
    for start in range(0, len(numbers), BATCH):
        batch = _batch(numbers[start : start + BATCH], owner)
        began = time.perf_counter()
        await store.add_messages(batch)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


async def _median_ms(repeat: int, call: Callable[[], Awaitable[Any]]) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        await call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


async def main(count: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        store = SqliteStore(root / "smsgw.db", KeyRing.create(root / "smsgw.key"))
        await store.open()
        try:
            key, _ = await store.create_api_key("bench", frozenset())
            numbers = [f"+1415{n:07d}" for n in range(count)]
            fresh = await _intake(store, numbers, key.id)
            known = await _intake(store, numbers, key.id)
            print(f"intake, new conversations:      {fresh:7.1f} ms per 1,000")
            print(f"intake, existing conversations: {known:7.1f} ms per 1,000")
            first = await store.list_conversations(cursor=None, limit=50)
            cursor = first.next_cursor
            for _ in range(20):  # 1,000 conversations down the chain
                page = await store.list_conversations(cursor=cursor, limit=50)
                cursor = page.next_cursor
            conversation = first.items[0].id
            figures = {
                "first page of 50": lambda: store.list_conversations(cursor=None, limit=50),
                "page 21 of 50": lambda: store.list_conversations(cursor=cursor, limit=50),
                "first page, one key's view": lambda: store.list_conversations(
                    cursor=None, limit=50, owner=key.id
                ),
                "a thread (2 messages)": lambda: store.conversation_thread(
                    conversation, cursor=None, limit=200
                ),
            }
            for name, call in figures.items():
                print(f"{name + ':':32}{await _median_ms(repeat, call):7.2f} ms")
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--numbers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.numbers, args.repeat))
