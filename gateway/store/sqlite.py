"""The SQLite store: one file, WAL, field-level encryption, group commit.

Two connections, each on a thread of its own
(:class:`~gateway.store.connection.ConnectionThread`): the writer, driven by
:class:`~gateway.store.writer.GroupWriter` (every write transaction,
group-committed), and a reader for queries, which WAL lets run beside the writer
without blocking it. ``durable`` selects
``synchronous=FULL`` (each commit survives a power cut) or ``NORMAL`` (survives a
crash of the process, may lose the last commits on power loss).

Values are sealed (and numbers hashed) on the event loop before a job is queued,
so the writer's transaction holds mostly SQLite work; the exception is the
events a change causes, built from the rows inside its transaction (see
:mod:`gateway.store.notices`). Listings are newest first;
a cursor is the last id of the previous page, base64-encoded.

Opening checks the file before trusting it: a database lost since one was made
here is refused (:func:`~gateway.store.files.refuse_lost`), the pages get a bounded
``PRAGMA quick_check`` (finished in the background on a large database) and the
schema must hold every table. ``health`` says why
the store cannot take writes (the file deleted or replaced, the disk full); writes
are refused while the file is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, TypeVar

from gateway.crypto import KeyRing
from gateway.errors import (
    GatewayError,
    KeyFileError,
    NotFound,
    StoreDamaged,
    StoreError,
    StoreUnavailable,
    UnknownKey,
    ValidationError,
)
from gateway.ids import new_id
from gateway.store import (
    api_keys,
    audit,
    auto_replies,
    broadcasts,
    client_fields,
    compat,
    conversations,
    events,
    expected_replies,
    housekeeping,
    inbound,
    messages,
    outbox,
    rate_windows,
    reports,
    secure_messages,
    subscriptions,
    suppressions,
    templates,
    threads,
)
from gateway.store.base import (
    CONSENT_OPTED_IN,
    CONSENT_OPTED_OUT,
    SECURE_ANSWERED,
    SECURE_LOCKED,
    SECURE_READ,
    AddResult,
    ApiKey,
    Attempt,
    AuditEntry,
    ConsentRule,
    Conversation,
    Delivery,
    DueDelivery,
    EventLogEntry,
    Fanout,
    Inbound,
    InboundPart,
    InboundResult,
    KeyLimits,
    Message,
    MessageFilter,
    MessageState,
    NewMessage,
    Page,
    QueueItem,
    RateMark,
    RecoveryReport,
    ReplyNudge,
    ReplyRule,
    ReportResult,
    Scope,
    SubscriptionRecord,
    Suppression,
    Template,
    Thread,
    UndecodableInbound,
)
from gateway.store.connection import ConnectionThread
from gateway.store.files import (
    FileIdentity,
    PrivateFileConnection,
    identity,
    mark_created,
    refuse_lost,
)
from gateway.store.migrations import migrate
from gateway.store.notices import Notifier
from gateway.store.sealing import decode_cursor, dump_json, encode_cursor
from gateway.store.secure_records import (
    NewSecureMessage,
    SecureAttachment,
    SecureContent,
    SecureMessage,
    VerifyOutcome,
)
from gateway.store.writer import GroupWriter, sqlite_error_in

T = TypeVar("T")

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
MAX_PAGE = 1000
# A database up to this size has its pages checked at open (well under a second); a larger
# one is opened at once, so a restart answers within a second at any size, and checked in
# the background: damage found there stops writes, and ``health`` says why. (SQLite before
# 3.43 cannot interrupt the check, so it is not started on a clock.)
CHECK_AT_OPEN_BYTES = 64 * 1024 * 1024
QUICK_CHECK_ERRORS = 5  # problems named in the refusal
# SQLite's codes for a file that is not (or no longer) a sound database.
DAMAGE_ERRORS: Final = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


class SqliteStore:
    """The :class:`~gateway.store.base.Store` on one SQLite file.

    ``fanout`` decides which changes write outbox rows (None: none do);
    ``on_outbox`` is called on the event loop after a commit that wrote some;
    ``consent`` names the opt-out list change an inbound text makes (None: none);
    ``replies`` the meaning a text answers among a message's expected replies (None:
    texts are never matched)."""

    def __init__(
        self,
        path: Path,
        keyring: KeyRing,
        *,
        durable: bool = True,
        fanout: Fanout | None = None,
        on_outbox: Callable[[], None] | None = None,
        consent: ConsentRule | None = None,
        replies: ReplyRule | None = None,
        check_at_open_bytes: int = CHECK_AT_OPEN_BYTES,
    ) -> None:
        self.path = path
        self._consent = consent
        self._replies = replies
        self.keyring = keyring
        self.durable = durable
        self._fanout = fanout
        self._on_outbox = on_outbox
        self._write_thread: ConnectionThread | None = None
        self._read_thread: ConnectionThread | None = None
        self._writer: GroupWriter | None = None
        self._keys = api_keys.KeyCache()
        self._usage = api_keys.UsageLog()
        self._usage_task: asyncio.Task[None] | None = None
        self._conversations = inbound.ConversationMap()
        self._suppressed = suppressions.SuppressionMap()
        self._identity: FileIdentity = None  # the file opened, to notice it replaced
        self._gone: str | None = None  # why the file can no longer be trusted (sticky)
        self._check_at_open_bytes = check_at_open_bytes
        self._check_rest = False  # the check at open ran out of time: finish it later
        self._checking: asyncio.Task[None] | None = None
        self._checker: sqlite3.Connection | None = None  # the background check's
        self._closing = False
        self._reported: str | None = None  # the unhealthy reason last logged
        self._broadcasts = broadcasts.SqliteBroadcasts(
            keyring, self._write, self._change, self._read
        )

    # -- lifecycle ---------------------------------------------------------------

    async def open(self) -> None:
        if self._writer is not None:
            raise StoreError("the store is already open")
        refuse_lost(self.path)
        try:
            self._write_thread = await self._connect("store-writer")
            await self._write_thread.run(self._prepare)
            self._read_thread = await self._connect("store-reader")
            await self._read_thread.run(lambda conn: conn.execute("PRAGMA query_only=ON"))
            await self._read_thread.run(self._conversations.load)
            await self._read_thread.run(self._suppressed.load)
            self._identity = identity(self.path)
            await self._write_thread.run(lambda _conn: mark_created(self.path))  # fsyncs
        except sqlite3.Error as exc:
            await self._close_connections()
            raise _open_error(self.path, exc) from None
        except BaseException:
            await self._close_connections()
            raise
        self._gone = self._reported = None
        self._closing = False
        self._writer = GroupWriter(self._write_thread)
        self._writer.refuse = self._refuse_if_gone
        self._writer.start()
        if self._check_rest:
            log.info("database check continues in the background (%s)", self.path.name)
            self._checking = asyncio.get_running_loop().create_task(
                self._finish_check(), name="store-check"
            )

    def health(self) -> str | None:
        """Why the store cannot take writes now, or None. One ``stat``: cheap enough for
        every health probe. A change of reason is logged once, here."""
        if self._writer is None:
            reason: str | None = "the store is not open"
        else:
            reason = self._file_gone() or (
                f"writes to the database fail: {self._writer.failure}"
                if self._writer.failure
                else None
            )
        if reason != self._reported and self._writer is not None:
            if reason is not None:
                log.error("store unhealthy: %s", reason)
            else:
                log.warning("store healthy again: writes succeed")
        self._reported = reason
        return reason

    def _file_gone(self) -> str | None:
        if self._gone is None and identity(self.path) != self._identity:
            self._gone = (
                f"the database file was deleted or replaced ({self.path}); nothing is "
                "accepted until the daemon is stopped and the database restored"
            )
        return self._gone

    def _refuse_if_gone(self) -> None:
        """Before each write: committing into a deleted file would lose it at the next start."""
        gone = self._file_gone()
        if gone is not None:
            self.health()  # logs it, once
            raise StoreUnavailable(gone)

    async def close(self) -> None:
        self._closing = True
        if self._checking is not None:
            if self._checker is not None:
                self._checker.interrupt()  # stops it where SQLite can (3.43 on)
            with contextlib.suppress(Exception):
                await self._checking
            self._checking = None
        if self._usage_task is not None:
            await self._usage_task
        if self._writer is not None:
            used = self._usage.take()
            if used:
                with contextlib.suppress(GatewayError):
                    await self._write(lambda conn: api_keys.write_usage(conn, used))
            await self._writer.close()
            self._writer = None
        await self._close_connections()

    @property
    def commit_count(self) -> int:
        """Write transactions committed since open (several calls can share one)."""
        return self._writer.commits if self._writer else 0

    async def _connect(self, name: str) -> ConnectionThread:
        thread = ConnectionThread(name)
        try:
            await thread.open(
                lambda: sqlite3.connect(
                    self.path, isolation_level=None, factory=PrivateFileConnection
                )
            )
            await thread.run(self._configure)
        except BaseException:
            await thread.close()
            raise
        return thread

    def _configure(self, conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: cannot use write-ahead logging (got {mode})")
        conn.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Pages sound, schema up to date and whole, and the key proven to be this
        database's (the canary)."""
        self._quick_check(conn)
        try:
            migrate(conn)
        except sqlite3.OperationalError:
            self._require_tables(conn)
            raise
        self._require_tables(conn)
        # A new database gets a canary sealed with this key; an existing one keeps its own.
        # The canary and the trail's first head commit together: neither exists alone.
        conn.execute("BEGIN IMMEDIATE")
        created = conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('canary', ?)",
            (self.keyring.seal(housekeeping.CANARY, aad=housekeeping.CANARY_AAD),),
        ).rowcount
        audit.start_head(conn, self.keyring, new_database=created == 1)
        conn.execute("COMMIT")
        (canary,) = conn.execute("SELECT value FROM meta WHERE key = 'canary'").fetchone()
        try:
            matches = self.keyring.open(canary, aad=housekeeping.CANARY_AAD) == housekeeping.CANARY
        except (KeyFileError, StoreError):
            matches = False
        if not matches:
            raise KeyFileError(f"key does not match this database ({self.path})")
        conn.execute("BEGIN IMMEDIATE")
        try:
            compat.drop_tokens(conn, self.keyring)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        client_fields.convert_legacy_once(conn, self.keyring)  # only once the key is proven
        conversations.seal_legacy_numbers(conn, self.keyring)

    def _quick_check(self, conn: sqlite3.Connection) -> None:
        """``PRAGMA quick_check`` now on a database of up to ``check_at_open_bytes``, in
        the background after open on a larger one."""
        size = self.path.stat().st_size if self.path.exists() else 0
        self._check_rest = size > self._check_at_open_bytes
        if self._check_rest:
            return
        problems = self._check_pages(conn)
        if problems:
            raise StoreDamaged(self._damage(problems))

    def _check_pages(self, conn: sqlite3.Connection) -> list[str] | None:
        """The problems ``PRAGMA quick_check`` found; None when a close interrupted it."""
        try:
            rows = conn.execute(f"PRAGMA quick_check({QUICK_CHECK_ERRORS})").fetchall()
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorname", "") != "SQLITE_INTERRUPT":
                raise
            return None
        return [str(row[0]) for row in rows if row[0] != "ok"]

    def _damage(self, problems: list[str]) -> str:
        return (
            f"database {self.path} failed its integrity check: {'; '.join(problems)}; "
            "restore it from a backup"
        )

    async def _finish_check(self) -> None:
        """The whole check, on a connection of its own (reads and writes go on); damage
        found stops writes as a deleted file does, and ``health`` says why."""
        try:
            checker = await self._connect("store-check")
            try:
                problems = await checker.run(self._check_in_background)
            finally:
                self._checker = None
                await checker.close()
        except sqlite3.Error as exc:
            problems = [str(exc)]
        if problems is None or self._closing:
            return  # closed first
        if problems:
            self._gone = self._damage(problems)
            self.health()  # logs it, once
        else:
            log.info("database check finished: the pages are sound")

    def _check_in_background(self, conn: sqlite3.Connection) -> list[str] | None:
        self._checker = conn
        return None if self._closing else self._check_pages(conn)

    def _require_tables(self, conn: sqlite3.Connection) -> None:
        found = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        missing = sorted(_schema_tables() - found)
        if missing:
            raise StoreDamaged(
                f"database {self.path} lacks table(s) {', '.join(missing)}; "
                "restore it from a backup"
            )

    async def _close_connections(self) -> None:
        for thread in (self._read_thread, self._write_thread):
            if thread is not None:
                await thread.close()
        self._read_thread = self._write_thread = None

    async def _change(self, job: Callable[[sqlite3.Connection, Notifier], T]) -> T:
        """A write job that may notify: its outbox rows commit with it, and the
        dispatcher is woken once they have."""
        notifiers: list[Notifier] = []

        def run(conn: sqlite3.Connection) -> T:
            notifiers[:] = [Notifier(conn, self.keyring, self._fanout)]
            return job(conn, notifiers[0])

        value = await self._write(run)
        if notifiers and notifiers[0].written and self._on_outbox is not None:
            self._on_outbox()
        return value

    async def _write(self, job: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self._submit(job)
        except UnknownKey:
            if not self._reload_keys():
                raise
        # The failed job was rolled back to its savepoint, so running it again is safe.
        return await self._submit(job)

    async def _submit(self, job: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            raise StoreError("the store is not open")
        return await self._writer.submit(job)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._read_thread is None:
            raise StoreError("the store is not open")
        try:
            return await self._read_thread.run(fn)
        except UnknownKey:
            if not self._reload_keys():
                raise
        return await self._read_thread.run(fn)

    def _reload_keys(self) -> bool:
        """A value sealed with a key this ring lacks: the key file may have gained it
        since (a rotation). True when a reload brought new keys, so a retry may work."""
        try:
            changed = self.keyring.reload()
        except KeyFileError as exc:
            log.warning("reloading the key file failed: %s", exc.message)
            return False
        if changed:
            log.info("key file reloaded: a stored value needed a key the ring did not hold")
        return changed

    @property
    def broadcasts(self) -> broadcasts.SqliteBroadcasts:
        return self._broadcasts

    # -- messages ------------------------------------------------------------------

    async def add_messages(
        self, new: Sequence[NewMessage], *, audited_by: tuple[str, str] | None = None
    ) -> list[AddResult]:
        if not new:
            return []
        at = time.time()
        batch = messages.prepare_messages(self.keyring, new, at)
        keyring = self.keyring

        def job(conn: sqlite3.Connection) -> list[AddResult]:
            results = messages.insert_messages(conn, keyring, batch)
            created = [r.message.id for r in results if r.created]  # a repeat is no send
            if audited_by is not None and created:
                actor, action = audited_by
                subject = created[0] if len(new) == 1 else None
                audit.insert(conn, keyring, at, actor, action, subject, {"ids": created})
            return results

        return await self._write(job)

    async def get_message(self, message_id: str, *, owner: str | None = None) -> Message | None:
        keyring = self.keyring
        return await self._read(
            lambda conn: messages.load_message(conn, keyring, message_id, owner=owner)
        )

    async def list_messages(
        self, flt: MessageFilter, *, cursor: str | None, limit: int
    ) -> Page[Message]:
        """Newest first. ``next_cursor`` is None on the last page."""
        limit = _page_limit(limit)
        before = decode_cursor(cursor) if cursor else None
        to_hash = self.number_hash(flt.to) if flt.to is not None else None
        keyring = self.keyring
        items = await self._read(
            lambda conn: messages.select_messages(conn, keyring, flt, to_hash, before, limit + 1)
        )
        return _page(items, limit, lambda m: m.id)

    async def cancel_message(self, message_id: str, *, owner: str | None = None) -> Message:
        keyring = self.keyring

        def job(conn: sqlite3.Connection, notify: Notifier) -> Message:
            message = messages.cancel(conn, keyring, message_id, owner)
            notify.message(message_id, message.state)  # a repeat is ignored by the outbox
            return message

        return await self._change(job)

    async def recover(self, *, resend_unknown: bool) -> RecoveryReport:
        def job(conn: sqlite3.Connection, notify: Notifier) -> RecoveryReport:
            return messages.recover(
                conn,
                resend_unknown=resend_unknown,
                on_unknown=lambda message_id: notify.message(message_id, MessageState.UNKNOWN),
            )

        return await self._change(job)

    async def queued(self) -> list[QueueItem]:
        return await self._read(messages.select_queued)

    async def queued_page(self, after: str, limit: int) -> list[QueueItem]:
        return await self._read(lambda conn: messages.select_queued_page(conn, after, limit))

    async def oldest_due(self, now: float) -> float | None:
        return await self._read(lambda conn: messages.oldest_due(conn, now))

    async def segment_sending(
        self, message_id: str, seq: int, modem: str, *, rate: RateMark | None = None
    ) -> None:
        def job(conn: sqlite3.Connection) -> None:
            messages.segment_sending(conn, message_id, seq, modem)
            if rate is not None:
                rate_windows.count_send(conn, modem, rate)

        await self._write(job)

    async def rate_sends(self, modem: str, since: float) -> list[float]:
        return await self._read(lambda conn: rate_windows.sends_since(conn, modem, since))

    async def segment_sent(
        self, message_id: str, seq: int, modem: str, reference: int, at: float
    ) -> MessageState:
        def job(conn: sqlite3.Connection, notify: Notifier) -> MessageState:
            state = messages.segment_sent(conn, message_id, seq, modem, reference, at)
            notify.message(message_id, state)
            return state

        return await self._change(job)

    async def segment_unknown(
        self, message_id: str, seq: int, modem: str, error: str, *, final: bool = True
    ) -> None:
        def job(conn: sqlite3.Connection, notify: Notifier) -> None:
            messages.segment_unknown(conn, message_id, seq, modem, error)
            if final:
                notify.message(message_id, MessageState.UNKNOWN)

        await self._change(job)

    async def requeue(
        self,
        message_id: str,
        *,
        send_at: float,
        error_code: str,
        error_text: str,
        count_attempt: bool = True,
    ) -> None:
        await self._write(
            lambda conn: messages.requeue(
                conn,
                message_id,
                send_at=send_at,
                error_code=error_code,
                error_text=error_text,
                count_attempt=count_attempt,
            )
        )

    async def finish(
        self,
        message_id: str,
        state: MessageState,
        *,
        error_code: str | None,
        error_text: str | None,
    ) -> None:
        def job(conn: sqlite3.Connection, notify: Notifier) -> None:
            messages.finish(conn, message_id, state, error_code=error_code, error_text=error_text)
            notify.message(message_id, state)

        await self._change(job)

    # -- reports -------------------------------------------------------------------

    async def apply_report(
        self, modem: str, reference: int, recipient: str, status: int, at: float
    ) -> ReportResult:
        keyring = self.keyring

        def job(conn: sqlite3.Connection, notify: Notifier) -> ReportResult:
            result = reports.apply_report(conn, keyring, modem, reference, recipient, status, at)
            if result.message_id is not None:
                notify.message(result.message_id, result.message_state)
            return result

        return await self._change(job)

    async def unmatched_reports(self) -> int:
        return await self._read(reports.count_unmatched)

    # -- inbound -------------------------------------------------------------------

    async def add_inbound(self, part: InboundPart) -> InboundResult:
        return await self._add_inbound(part, None)

    async def _add_inbound(self, part: InboundPart, secure_id: str | None) -> InboundResult:
        """``secure_id``: the secure message this text answers on its page (marked
        answered, ``secure.answered`` notified, in the same transaction)."""
        prepared = inbound.prepare_part(self.keyring, part)
        keyring, consent, rule = self.keyring, self._consent, self._replies

        def job(conn: sqlite3.Connection, notify: Notifier) -> InboundResult:
            result = inbound.add_part(conn, keyring, prepared)
            text = result.inbound
            if text is None:
                return result
            matched = None
            if rule is not None:
                matched = expected_replies.match(conn, keyring, text, prepared.sender_hash, rule)
            if matched is not None:
                text = matched[0]
                result = replace(result, inbound=text)
            notify.inbound(text)
            if matched is not None:
                notify.reply(matched[1], matched[2])
            if secure_id is not None:
                secure_messages.mark(conn, secure_id, "answered_at", text.received_at)
                notify.secure(SECURE_ANSWERED, secure_id, text)
            change = consent(text.text) if consent is not None else None
            if change is None:
                return result
            applied = suppressions.apply_change(
                conn,
                keyring,
                text.sender,
                change,
                modem=text.modem,
                at=text.received_at,
                notify=notify.consent,
            )
            return replace(result, consent=applied)

        result = await self._change(job)
        if not result.duplicate:
            self._conversations.seen(prepared.sender_hash, part.modem, part.received_at)
        if result.consent is not None:
            self._mirror(result.consent.change.opt_out, result.consent.suppressions)
        return result

    def _mirror(self, added: bool, entries: Sequence[Suppression]) -> None:
        """The in-memory list follows a committed change."""
        for entry in entries:
            number_hash = self.number_hash(entry.number)
            if added:
                self._suppressed.added(number_hash, entry.category)
            else:
                self._suppressed.removed(number_hash, entry.category)

    async def release_inbound(self, dedupe_key: str) -> None:
        key_hash = self.keyring.lookup_hash(dedupe_key)
        await self._write(lambda conn: inbound.release_key(conn, key_hash))

    async def add_undecodable(self, raw: UndecodableInbound) -> str | None:
        keyring = self.keyring

        def job(conn: sqlite3.Connection, notify: Notifier) -> str | None:
            added = inbound.add_undecodable(conn, keyring, raw)
            if added is None:
                return None
            notify.modem(inbound.UNDECODABLE, raw.modem, added[1])
            return added[0]

        return await self._change(job)

    async def release_incomplete(self, older_than: float) -> list[Inbound]:
        keyring = self.keyring

        def job(conn: sqlite3.Connection, notify: Notifier) -> list[Inbound]:
            released = inbound.release_incomplete(conn, keyring, older_than)
            for text in released:
                notify.inbound(text)
            return released

        return await self._change(job)

    async def get_inbound(self, inbound_id: str, *, owner: str | None = None) -> Inbound | None:
        keyring = self.keyring
        found = await self._read(
            lambda conn: inbound.select_inbound(conn, keyring, inbound_id=inbound_id, owner=owner)
        )
        return found[0] if found else None

    async def list_inbound(
        self,
        *,
        sender: str | None,
        modem: str | None,
        cursor: str | None,
        limit: int,
        owner: str | None = None,
    ) -> Page[Inbound]:
        """Newest first. ``next_cursor`` is None on the last page."""
        limit = _page_limit(limit)
        before = decode_cursor(cursor) if cursor else None
        sender_hash = self.number_hash(sender) if sender is not None else None
        keyring = self.keyring
        items = await self._read(
            lambda conn: inbound.select_inbound(
                conn,
                keyring,
                sender_hash=sender_hash,
                modem=modem,
                before_id=before,
                owner=owner,
                limit=limit + 1,
            )
        )
        return _page(items, limit, lambda i: i.id)

    async def claim_reply_nudge(self, sender: str, at: float) -> ReplyNudge | None:
        sender_hash, keyring = self.number_hash(sender), self.keyring
        return await self._write(
            lambda conn: expected_replies.claim_nudge(conn, keyring, sender_hash, at)
        )

    async def claim_auto_reply(self, conversation_id: str, period_start: float, at: float) -> bool:
        return await self._write(
            lambda conn: auto_replies.claim(conn, conversation_id, period_start, at)
        )

    # -- templates -------------------------------------------------------------------

    async def add_template(self, template: Template) -> None:
        keyring = self.keyring
        await self._write(lambda conn: templates.insert(conn, keyring, template))

    async def replace_template(self, template: Template) -> Template:
        keyring = self.keyring
        return await self._write(lambda conn: templates.replace(conn, keyring, template))

    async def get_template(self, name: str) -> Template | None:
        keyring = self.keyring
        found = await self._read(lambda conn: templates.select(conn, keyring, name))
        return found[0] if found else None

    async def list_templates(self) -> list[Template]:
        keyring = self.keyring
        return await self._read(lambda conn: templates.select(conn, keyring, None))

    async def delete_template(self, name: str) -> bool:
        return await self._write(lambda conn: templates.delete(conn, name))

    async def conversation_modem(self, to_hash: bytes) -> str | None:
        """From memory (see :class:`~gateway.store.inbound.ConversationMap`)."""
        return self._conversations.modem(to_hash)

    def number_hash(self, number: str) -> bytes:
        return self.keyring.lookup_hash(number)

    # -- conversations -------------------------------------------------------------------

    async def list_conversations(
        self, *, cursor: str | None, limit: int, owner: str | None = None
    ) -> Page[Conversation]:
        limit, keyring, now = _page_limit(limit), self.keyring, time.time()
        items = await self._read(
            lambda conn: threads.select_page(
                conn, keyring, cursor=cursor, limit=limit + 1, owner=owner, now=now
            )
        )
        if len(items) > limit:
            items = items[:limit]
            return Page(items, threads.time_cursor(items[-1].last_at, items[-1].id))
        return Page(items, None)

    async def conversation_thread(
        self, conversation_id: str, *, cursor: str | None, limit: int, owner: str | None = None
    ) -> Thread | None:
        limit, keyring, now = _page_limit(limit), self.keyring, time.time()
        return await self._read(
            lambda conn: threads.select_thread(
                conn, keyring, conversation_id, cursor=cursor, limit=limit, owner=owner, now=now
            )
        )

    async def mark_conversation_read(
        self, conversation_id: str, *, owner: str | None = None
    ) -> Conversation:
        keyring, now = self.keyring, time.time()
        return await self._write(
            lambda conn: threads.mark_read(conn, keyring, conversation_id, owner, now)
        )

    # -- suppressions ------------------------------------------------------------------

    async def add_suppression(
        self, number: str, category: str | None, *, source: str, reason: str | None
    ) -> tuple[Suppression, bool]:
        keyring, at = self.keyring, time.time()

        def job(conn: sqlite3.Connection, notify: Notifier) -> tuple[Suppression, bool]:
            made, created = suppressions.insert(
                conn, keyring, number, category, source=source, reason=reason, modem=None, at=at
            )
            if created:
                notify.consent(CONSENT_OPTED_OUT, made)
            return made, created

        made, created = await self._change(job)
        self._mirror(True, [made])
        return made, created

    async def remove_suppression(self, suppression_id: str) -> Suppression:
        keyring = self.keyring

        def job(conn: sqlite3.Connection, notify: Notifier) -> Suppression:
            removed = suppressions.delete(conn, keyring, suppression_id)
            notify.consent(CONSENT_OPTED_IN, removed)
            return removed

        removed = await self._change(job)
        self._mirror(False, [removed])
        return removed

    async def suppressions_for(self, number: str) -> list[Suppression]:
        number_hash, keyring = self.number_hash(number), self.keyring
        return await self._read(lambda conn: suppressions.select_for(conn, keyring, number_hash))

    async def suppressed_categories(
        self, number_hashes: Sequence[bytes]
    ) -> dict[bytes, frozenset[str | None]]:
        """From memory (see :class:`~gateway.store.suppressions.SuppressionMap`)."""
        return self._suppressed.categories(number_hashes)

    async def list_suppressions(self, *, cursor: str | None, limit: int) -> Page[Suppression]:
        limit = _page_limit(limit)
        before = decode_cursor(cursor) if cursor else None
        keyring = self.keyring
        items = await self._read(
            lambda conn: suppressions.select_page(conn, keyring, before, limit + 1)
        )
        return _page(items, limit, lambda s: s.id)

    async def newest_record_at(self) -> float | None:
        def newest(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                "SELECT max(m), max(i) FROM (SELECT max(updated_at) AS m FROM messages), "
                "(SELECT max(received_at) AS i FROM inbound)"
            ).fetchone()
            found = [float(v) for v in row if v is not None]
            return max(found) if found else None

        return await self._read(newest)

    def callback_secret(self, key_id: str) -> str:
        return compat.callback_secret(self.keyring, key_id)

    # -- API keys --------------------------------------------------------------------

    async def create_api_key(
        self,
        name: str,
        scopes: frozenset[Scope],
        limits: KeyLimits | None = None,
        *,
        default_category: str = "care",
    ) -> tuple[ApiKey, str]:
        key_id, token, secret_hash = api_keys.new_token()
        key = ApiKey(
            id=key_id,
            name=name,
            scopes=scopes,
            created_at=time.time(),
            revoked_at=None,
            default_category=default_category,
            limits=limits or KeyLimits(),
        )
        await self._write(lambda conn: api_keys.insert_key(conn, key, secret_hash))
        return key, token

    async def set_api_key_limits(self, key_id: str, limits: KeyLimits) -> ApiKey:
        key = await self._write(lambda conn: api_keys.set_limits(conn, key_id, limits))
        self._keys.drop(key_id)
        return key

    def key_used(self, key_id: str) -> None:
        if self._usage.note(key_id, time.time()) and self._usage_task is None:
            self._usage_task = asyncio.create_task(self._write_usage(), name="key-usage")

    async def _write_usage(self) -> None:
        try:
            used = self._usage.take()
            if used and self._writer is not None:
                await self._write(lambda conn: api_keys.write_usage(conn, used))
        except GatewayError as exc:  # the store's own health reports the cause
            log.debug("last-used times not written: %s", exc.code)
        finally:
            self._usage_task = None

    async def verify_api_key(self, token: str) -> ApiKey | None:
        parsed = api_keys.parse_token(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        if self._keys.due():
            self._keys.checked(await self._read(api_keys.fingerprint))
        found = self._keys.get(key_id)
        if found is None:
            found = await self._read(lambda conn: api_keys.select_key(conn, key_id))
            if found is None:
                return None
            self._keys.put(*found)
        return api_keys.check(found, secret)

    async def list_api_keys(self) -> list[ApiKey]:
        return await self._read(api_keys.select_keys)

    async def revoke_api_key(self, key_id: str) -> ApiKey:
        key = await self._write(lambda conn: api_keys.revoke(conn, key_id))
        self._keys.drop(key_id)
        return key

    # -- events ------------------------------------------------------------------------

    async def add_event(self, kind: str, modem: str | None, detail: dict[str, Any]) -> None:
        keyring, at = self.keyring, time.time()

        def job(conn: sqlite3.Connection, notify: Notifier) -> None:
            events.insert_event(conn, keyring, at, kind, modem, detail)
            notify.modem(kind, modem, detail)

        await self._change(job)

    async def list_events(self, *, cursor: str | None, limit: int) -> Page[EventLogEntry]:
        """Newest first. ``next_cursor`` is None on the last page."""
        limit = _page_limit(limit)
        before = _row_cursor(cursor)
        keyring = self.keyring
        items = await self._read(
            lambda conn: events.select_events(conn, keyring, before, limit + 1)
        )
        return _page(items, limit, lambda e: e.id)

    # -- audit ---------------------------------------------------------------------------

    async def audit(
        self, actor: str, action: str, detail: dict[str, Any], *, subject: str | None = None
    ) -> None:
        keyring, at = self.keyring, time.time()
        await self._write(
            lambda conn: audit.insert(conn, keyring, at, actor, action, subject, detail)
        )

    async def list_audit(self, *, cursor: str | None, limit: int) -> Page[AuditEntry]:
        """Newest first. ``next_cursor`` is None on the last page."""
        limit = _page_limit(limit)
        before = _row_cursor(cursor)
        keyring = self.keyring
        items = await self._read(lambda conn: audit.select(conn, keyring, before, limit + 1))
        return _page(items, limit, lambda e: e.id)

    async def verify_audit(self) -> int:
        """Reads one snapshot of the trail (WAL), beside the daemon's writes."""
        keyring = self.keyring
        return await self._read(lambda conn: audit.verify(conn, keyring))

    # -- webhooks: subscriptions, outbox, compatibility specs -----------------------------

    async def list_subscriptions(self) -> list[SubscriptionRecord]:
        keyring = self.keyring
        return await self._read(lambda conn: subscriptions.select(conn, keyring))

    async def add_subscription(self, subscription: SubscriptionRecord) -> None:
        sealed = self.keyring.seal(
            subscription.secret, aad=subscriptions.secret_aad(subscription.id)
        )

        def job(conn: sqlite3.Connection) -> None:
            try:
                subscriptions.insert(conn, subscription, sealed)
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"subscription could not be stored: {exc}") from exc

        await self._write(job)

    async def delete_subscription(self, subscription_id: str) -> None:
        at = time.time()
        await self._write(lambda conn: subscriptions.delete(conn, subscription_id, at))

    async def due_deliveries(
        self, now: float, limit: int
    ) -> tuple[list[DueDelivery], float | None]:
        keyring = self.keyring

        def scan(conn: sqlite3.Connection) -> tuple[list[DueDelivery], float | None]:
            return outbox.select_due(conn, keyring, now, limit), outbox.next_due_at(conn)

        return await self._read(scan)

    async def record_attempt(
        self, delivery_id: str, attempt: Attempt, *, state: str, next_at: float | None
    ) -> None:
        await self._write(
            lambda conn: outbox.record_attempt(
                conn, delivery_id, attempt, state=state, next_at=next_at
            )
        )

    async def list_deliveries(
        self, subscriber: str, *, state: str | None, cursor: str | None, limit: int
    ) -> Page[Delivery]:
        limit = _page_limit(limit)
        before = decode_cursor(cursor) if cursor else None
        items = await self._read(
            lambda conn: outbox.select_deliveries(
                conn, subscriber, state=state, before_id=before, limit=limit + 1
            )
        )
        return _page(items, limit, lambda d: d.id)

    async def redeliver(
        self, subscriber: str, *, delivery_id: str | None = None, since: float | None = None
    ) -> int:
        at = time.time()
        count = await self._write(
            lambda conn: outbox.redeliver(
                conn, subscriber, at, delivery_id=delivery_id, since=since
            )
        )
        if count and self._on_outbox is not None:
            self._on_outbox()
        return count

    async def delivery_counts(self) -> dict[str, int]:
        return await self._read(outbox.counts)

    async def purge_deliveries(self, older_than: float) -> int:
        return await self._write(lambda conn: outbox.purge(conn, older_than))

    async def save_compat_spec(self, kind: str, spec: dict[str, Any]) -> str:
        ref = new_id("cmp")
        sealed = self.keyring.seal(dump_json(spec), aad=compat.spec_aad(ref))
        now = time.time()
        await self._write(lambda conn: compat.insert_spec(conn, ref, kind, sealed, now))
        return ref

    # -- housekeeping ------------------------------------------------------------------

    async def stats(self) -> dict[str, int]:
        """See :func:`gateway.store.housekeeping.stats` for the keys."""
        path = self.path
        return await self._read(lambda conn: housekeeping.stats(conn, path))

    async def rotate_key(
        self, *, batch: int = 500, on_batch: Callable[[int, int], None] | None = None
    ) -> int:
        """Each batch is its own transaction, queued behind the daemon's writes. Passes
        repeat until one finds nothing left, so values sealed while a pass ran are
        caught too; then the canary, last, so it never names a key that values no
        longer need. ``on_batch(rewritten, total)`` follows progress."""
        total = 0
        while True:
            rewritten = await self._rotate_pass(batch, total, on_batch)
            if not rewritten:
                break
            total += rewritten
        keyring = self.keyring
        await self._write(lambda conn: housekeeping.reseal_canary(conn, keyring))
        return total

    async def _rotate_pass(
        self, batch: int, before: int, on_batch: Callable[[int, int], None] | None
    ) -> int:
        keyring = self.keyring
        positions: dict[str, str | int] = {}
        rewritten = 0
        while True:
            done = await self._write(
                lambda conn: housekeeping.rotate_batch(conn, keyring, batch, positions)
            )
            rewritten += done
            if done and on_batch is not None:
                on_batch(done, before + rewritten)
            if all(positions.get(table) == "" for table in housekeeping.SEALED):
                return rewritten

    async def stale_values(self) -> dict[str, int]:
        """Values not sealed with the current key, by ``table.column`` (empty: none)."""
        prefix = self.keyring.current_prefix
        return await self._write(lambda conn: housekeeping.stale_values(conn, prefix))

    async def purge(self, older_than: float) -> int:
        """Messages in a state nothing changes any more and inbound, both older than the
        cutoff, plus reports and events; returns messages + inbound deleted."""

        def job(conn: sqlite3.Connection) -> int:
            due = secure_messages.due_for_erasure(conn, older_than, older_than)
            secure_messages.erase(conn, due, time.time())
            return housekeeping.purge(conn, older_than)

        deleted = await self._write(job)
        self._conversations.forget_before(older_than)
        if self._write_thread is not None:
            # Between two groups the writer holds no transaction, so this is safe.
            await self._write_thread.run(housekeeping.checkpoint)
        return deleted

    # -- secure messages ------------------------------------------------------------------

    async def add_secure_message(self, new: NewSecureMessage) -> SecureMessage:
        keyring, at = self.keyring, time.time()

        def job(conn: sqlite3.Connection) -> SecureMessage:
            secure_messages.insert(conn, keyring, new, at)
            return secure_messages.load(conn, keyring, new.id)

        return await self._write(job)

    async def link_secure_message(self, secure_id: str, message_id: str) -> None:
        await self._write(lambda conn: secure_messages.link(conn, secure_id, message_id))

    async def drop_secure_message(self, secure_id: str) -> None:
        await self._write(lambda conn: secure_messages.drop(conn, secure_id))

    async def find_secure_message(self, token_hash: bytes) -> SecureMessage | None:
        keyring = self.keyring
        return await self._read(
            lambda conn: secure_messages.select(conn, keyring, token_hash=token_hash)
        )

    async def get_secure_message(
        self, secure_id: str, *, owner: str | None = None
    ) -> SecureMessage | None:
        keyring = self.keyring
        return await self._read(
            lambda conn: secure_messages.select(conn, keyring, secure_id=secure_id, owner=owner)
        )

    async def secure_opened(self, secure_id: str, at: float) -> None:
        await self._write(lambda conn: secure_messages.mark(conn, secure_id, "opened_at", at))

    async def set_secure_code(self, secure_id: str, code_hash: bytes, expires_at: float) -> None:
        await self._write(
            lambda conn: secure_messages.set_code(conn, secure_id, code_hash, expires_at)
        )

    async def verify_secure(
        self, secure_id: str, answer_hash: bytes, at: float, max_failures: int
    ) -> VerifyOutcome:
        keyring = self.keyring

        def job(conn: sqlite3.Connection, notify: Notifier) -> VerifyOutcome:
            outcome, locked = secure_messages.verify(
                conn, keyring, secure_id, answer_hash, at, max_failures
            )
            if locked:
                notify.secure(SECURE_LOCKED, secure_id)
            return outcome

        return await self._change(job)

    async def read_secure(self, secure_id: str, at: float) -> SecureContent | None:
        keyring = self.keyring

        def job(conn: sqlite3.Connection, notify: Notifier) -> SecureContent | None:
            found = secure_messages.content(conn, keyring, secure_id)
            if found is not None and secure_messages.mark(conn, secure_id, "read_at", at):
                notify.secure(SECURE_READ, secure_id)
            return found

        return await self._change(job)

    async def secure_attachment(self, secure_id: str, seq: int) -> SecureAttachment | None:
        keyring = self.keyring
        return await self._read(
            lambda conn: secure_messages.attachment(conn, keyring, secure_id, seq)
        )

    async def answer_secure(self, secure_id: str, part: InboundPart) -> InboundResult:
        return await self._add_inbound(part, secure_id)

    async def revoke_secure(self, secure_id: str, *, owner: str | None = None) -> SecureMessage:
        keyring, at = self.keyring, time.time()

        def job(conn: sqlite3.Connection) -> SecureMessage:
            if secure_messages.select(conn, keyring, secure_id=secure_id, owner=owner) is None:
                raise NotFound("no such secure message")
            secure_messages.revoke(conn, secure_id, at)
            return secure_messages.load(conn, keyring, secure_id)

        revoked = await self._write(job)
        await self._checkpoint()
        return revoked

    async def erase_secure(self, now: float, *, created_before: float | None = None) -> int:
        def job(conn: sqlite3.Connection) -> int:
            due = secure_messages.due_for_erasure(conn, now, created_before)
            return secure_messages.erase(conn, due, time.time())

        erased = await self._write(job)
        if erased:
            await self._checkpoint()
        return erased

    async def _checkpoint(self) -> None:
        """Erased rows leave the write-ahead log too (see ``purge``)."""
        if self._write_thread is not None:
            await self._write_thread.run(housekeeping.checkpoint)


@functools.cache
def _schema_tables() -> frozenset[str]:
    """The tables the migrations make, read from a scratch database in memory."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        migrate(conn)
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        conn.close()
    return frozenset(str(row[0]) for row in rows if not str(row[0]).startswith("sqlite_"))


def _open_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """A SQLite error at open as a typed one: damage gets its own code (exit 4)."""
    if sqlite_error_in(exc, DAMAGE_ERRORS):
        return StoreDamaged(f"database {path} is damaged ({exc}); restore it from a backup")
    return StoreError(f"cannot open database {path}: {exc}")


def _page_limit(limit: int) -> int:
    if limit < 1:
        raise ValidationError("limit must be at least 1", field="limit")
    return min(limit, MAX_PAGE)


def _row_cursor(cursor: str | None) -> int | None:
    """A cursor over tables keyed by an integer row id (events, audit)."""
    if not cursor:
        return None
    try:
        return int(decode_cursor(cursor))
    except ValueError:
        raise ValidationError("invalid cursor", field="cursor") from None


def _page(items: list[T], limit: int, key: Callable[[T], str | int]) -> Page[T]:
    if len(items) > limit:
        items = items[:limit]
        return Page(items=items, next_cursor=encode_cursor(key(items[-1])))
    return Page(items=items, next_cursor=None)
