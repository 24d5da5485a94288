"""Store throughput figures (not a test): ``python -m tests.gateway.store.throughput``.

Prints messages per second through ``add_messages`` in batches of 1,000, and for
32 concurrent callers adding one message each, on a durable store in a temp dir.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from gateway.crypto import KeyRing
from gateway.store.sqlite import SqliteStore
from tests.gateway.store.conftest import new_message

BATCH = 1000
BATCHES = 20
CONCURRENCY = 32
SINGLE_TOTAL = 10_000


async def _batches(store: SqliteStore) -> float:
    started = time.perf_counter()
    for _ in range(BATCHES):
        await store.add_messages([new_message() for _ in range(BATCH)])
    return BATCH * BATCHES / (time.perf_counter() - started)


async def _singles(store: SqliteStore) -> tuple[float, float]:
    per_worker = SINGLE_TOTAL // CONCURRENCY
    commits_before = store.commit_count

    async def worker() -> None:
        for _ in range(per_worker):
            await store.add_messages([new_message()])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    calls = per_worker * CONCURRENCY
    return calls / elapsed, calls / (store.commit_count - commits_before)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for durable in (True, False):
            directory = Path(tmp) / f"durable-{durable}"
            directory.mkdir()
            store = SqliteStore(
                directory / "smsgw.db", KeyRing.create(directory / "key.json"), durable=durable
            )
            await store.open()
            try:
                batch_rate = await _batches(store)
                single_rate, per_commit = await _singles(store)
            finally:
                await store.close()
            sys.stdout.write(
                f"durable={durable}: batches of {BATCH}: {batch_rate:,.0f} msg/s; "
                f"{CONCURRENCY} concurrent single adds: {single_rate:,.0f} msg/s "
                f"({per_commit:.1f} calls per commit)\n"
            )


if __name__ == "__main__":
    asyncio.run(main())
