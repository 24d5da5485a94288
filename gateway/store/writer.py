"""Group commit: one task owns every write transaction.

Writers do not open transactions themselves. They hand a *job* (a plain
function of the ``sqlite3.Connection``) to :class:`GroupWriter`, which runs
everything queued since its last commit inside ONE transaction with ONE commit
(one fsync when durable), then resolves each caller's future. A caller therefore
returns only once its rows are on disk (invariant 1), and a thousand concurrent
callers cost a handful of fsyncs instead of a thousand.

Each job runs under its own savepoint, so a job that raises (an idempotency
conflict, an unknown id) is rolled back alone and its caller gets the
exception, while the rest of the group commits.

A job or a group that fails for want of storage (a full disk, an I/O error, a
read-only file) sets ``failure`` until a later group writes something; the caller
gets :class:`~gateway.errors.StoreUnavailable` (503), not the raw SQLite error.

The group runs as a single call on the connection's own thread
(:class:`~gateway.store.connection.ConnectionThread`): one thread hop per group,
not per statement, which would dominate the cost of small writes.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from gateway.errors import StoreError, StoreUnavailable
from gateway.store.connection import ConnectionThread

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], Any]

log = logging.getLogger(__name__)

# SQLite's result codes for storage that cannot take a write (not a bad statement).
STORAGE_ERRORS: frozenset[str] = frozenset(
    {"SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_CORRUPT"}
)


def sqlite_error_in(exc: BaseException, codes: Iterable[str]) -> bool:
    """Whether ``exc`` is a SQLite error with one of ``codes`` (extended codes included:
    ``SQLITE_IOERR_WRITE`` is a ``SQLITE_IOERR``)."""
    if not isinstance(exc, sqlite3.Error):
        return False
    name = str(getattr(exc, "sqlite_errorname", ""))
    return any(name == code or name.startswith(code + "_") for code in codes)


def storage_failure(exc: BaseException) -> str | None:
    """What ``exc`` says of the storage (``database or disk is full``), or None when it
    is not a storage error."""
    return str(exc) if sqlite_error_in(exc, STORAGE_ERRORS) else None


def _unavailable(reason: str) -> StoreUnavailable:
    return StoreUnavailable(f"the database cannot be written ({reason})")


def _run_group(conn: sqlite3.Connection, jobs: list[Job]) -> list[tuple[bool, Any]]:
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for job in jobs:
            conn.execute("SAVEPOINT job")
            try:
                value = job(conn)
            except Exception as exc:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                outcomes.append((False, exc))
            else:
                conn.execute("RELEASE job")
                outcomes.append((True, value))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


class GroupWriter:
    def __init__(self, conn: ConnectionThread) -> None:
        self._conn = conn
        self._pending: list[tuple[Job, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.commits = 0  # transactions committed; tests compare it with the calls made
        self.failure: str | None = None  # the last write's storage error, until one succeeds
        self.refuse: Callable[[], None] | None = None  # raises to refuse work (file gone)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="store-writer")

    async def submit(self, job: Callable[[sqlite3.Connection], T]) -> T:
        if self._closing or self._task is None or self._task.done():
            raise StoreError("the store is not open")
        # ``refuse`` (an os.stat of the file) runs once per group in _commit, not per caller.
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((job, future))
        self._wake.set()
        return cast(T, await future)

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            group, self._pending = self._pending, []
            await self._commit(group)

    async def _commit(self, group: list[tuple[Job, asyncio.Future[Any]]]) -> None:
        jobs = [job for job, _ in group]
        try:
            if self.refuse is not None:
                self.refuse()
            outcomes = await self._conn.run(lambda conn: _run_group(conn, jobs))
        except Exception as exc:
            failure = storage_failure(exc)
            error: StoreError | StoreUnavailable
            if isinstance(exc, StoreUnavailable):
                error = exc
            elif failure is not None:
                self.failure = failure
                error = _unavailable(failure)
            else:
                log.error("store write transaction failed", exc_info=True)
                error = StoreError(f"the store could not commit: {exc}")
            for _, future in group:
                if not future.done():
                    future.set_exception(error)
            return
        self.commits += 1
        failures = [storage_failure(value) for ok, value in outcomes if not ok]
        stored = next((f for f in failures if f is not None), None)
        if stored is not None:
            self.failure = stored
        elif any(ok for ok, _ in outcomes):
            self.failure = None
        for (_, future), (ok, value) in zip(group, outcomes, strict=True):
            if future.done():  # the caller was cancelled; its rows are committed anyway
                continue
            if ok:
                future.set_result(value)
            elif (failure := storage_failure(value)) is not None:
                future.set_exception(_unavailable(failure))
            else:
                future.set_exception(value)
