"""One SQLite connection and the one thread that ever touches it.

``sqlite3`` blocks, so each connection gets a single-thread executor of its own:
the connection is made on that thread and every call runs there, one at a time,
in the order submitted. The thread sees only the connection and the plain
function it is given; results come back to the event loop through the executor's
future (``loop.run_in_executor``), never by touching loop objects from the thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from gateway.errors import StoreError

T = TypeVar("T")


class ConnectionThread:
    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None

    async def open(self, connect: Callable[[], sqlite3.Connection]) -> None:
        """Make the connection on this thread (its file work stays off the event loop)."""

        def make() -> None:
            self._conn = connect()

        await asyncio.get_running_loop().run_in_executor(self._executor, make)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` on the thread, in one hop."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            raise StoreError("the store is not open")
        return fn(self._conn)

    async def close(self) -> None:
        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, close)
        finally:
            self._executor.shutdown(wait=False)
