"""The outbox's hook into :class:`~gateway.store.sqlite.SqliteStore`.

The store runs every write through its group-commit writer and every read on its
read connection; :class:`SqliteAccess` hands outbox jobs to the same two paths
(``run_write`` / ``run_read`` on the store).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from gateway.crypto import KeyRing
from gateway.store.sqlite import SqliteStore

T = TypeVar("T")


class SqliteAccess:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    @property
    def keyring(self) -> KeyRing:
        return self._store.keyring

    async def run_write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._store.run_write(fn)

    async def run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._store.run_read(fn)
