"""AT command engine: one command in flight per port, final results, URCs, deadlines.

The engine sits between a byte transport (``feed`` / ``connection_lost`` in, ``write``
out) and the modem operations. It owns the ``LineSplitter``, matches lines to the
command in flight, and routes every URC to its listener as soon as it is complete,
including in the middle of another command's response. All timeouts in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import heapq
import itertools
import logging
import re
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from drivers.errors import (
    CommandError,
    CommandTimeout,
    DriverError,
    ModemDisconnected,
    SendUnknown,
)
from drivers.lines import LineSplitter, Prompt
from drivers.urcs import URC_PREFIXES, Urc, final_result, has_pdu_line, is_hex_line, urc_prefix

log = logging.getLogger(__name__)

CTRL_Z = b"\x1a"
ESC = b"\x1b"
ESCAPE_GRACE = 1.0  # after ESC, how long to wait for the modem's final before moving on
MAX_RESPONSE_LINES = 2048  # a full 255-slot AT+CMGL listing is 510 lines
RESYNC_QUIET = 0.2  # after a missed deadline: silence that ends the drain of late answers

_COMMAND_NAME = re.compile(r"AT([+^#$%][A-Z0-9]+)", re.IGNORECASE)
_COMMAND_WORD = re.compile(r"AT[+^#$%]?[A-Z]*", re.IGNORECASE)
_CMGS = re.compile(r"\+CMGS:\s*(\d+)")


class CommandPriority(enum.IntEnum):
    """Who goes first when several callers want the port (higher wins)."""

    SEND = 0
    READ = 1  # inbound reads and deletes: free the modem's storage before more sends
    HEALTH = 2
    TECHNICIAN = 2
    RESET = 3


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...


class EngineListener(Protocol):
    def urc_received(self, urc: Urc) -> None: ...

    def command_timed_out(self, consecutive: int) -> None: ...


@dataclass(slots=True)
class EngineStats:
    """Counters that survive reconnects (one object per modem, shared by its engines)."""

    garbage_bytes: int = 0
    noise_bytes: int = 0  # stray 0x80-0xFF/NUL bytes ahead of lines: a bad cable or UART
    noise_lines: int = 0  # lines of nothing but such bytes
    overlong_lines: int = 0
    unknown_urcs: int = 0  # lines that are neither a known URC nor part of an answer
    urcs: int = 0
    timeouts: int = 0
    commands: int = 0
    undecodable_pdus: int = 0  # stored PDUs that did not decode, re-reads included
    pdu_rereads: int = 0  # slots read again because their PDU did not decode
    stored_outgoing_deleted: int = 0  # SMS-SUBMITs another program left in storage, freed


class PriorityLock:
    """A mutex granted to the highest-priority waiter, first come first served within one."""

    def __init__(self) -> None:
        self._locked = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._failed: BaseException | None = None

    @property
    def locked(self) -> bool:
        return self._locked

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, future in self._waiters if not future.done())

    async def acquire(self, priority: int) -> None:
        if self._failed is not None:
            raise self._failed
        if not self._locked and not self._waiters:
            self._locked = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-priority, next(self._order), future))
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release()  # granted while we were being cancelled: pass it on
            else:
                self._waiters = [w for w in self._waiters if w[2] is not future]
                heapq.heapify(self._waiters)
            raise

    def release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                return
        self._locked = False

    def fail_waiters(self, exc: BaseException) -> None:
        """Refuse all current and future waiters (the port is gone)."""
        self._failed = exc
        waiters, self._waiters = self._waiters, []
        for _, _, future in waiters:
            if not future.done():
                future.set_exception(exc)


@dataclass(slots=True)
class _Pending:
    """The command in flight: registered before its bytes are written."""

    command: str
    name: str  # safe to log: no arguments (PINs, numbers)
    expect: tuple[str, ...]
    final_prefix: str | None
    done: asyncio.Future[list[str]]
    prompt: asyncio.Future[None] | None = None
    echoes: set[str] = field(default_factory=set)
    lines: list[str] = field(default_factory=list)


def command_name(command: str) -> str:
    """``AT+CPIN="1234"`` -> ``AT+CPIN``: what may appear in logs and error messages."""
    match = _COMMAND_WORD.match(command)
    return match.group(0).upper() if match else "AT"


def encode_command(command: str) -> bytes:
    """One command line on the wire; refuses what would smuggle in another command."""
    if not command.isascii() or any(c in command for c in "\r\n\x1a\x1b"):
        raise ValueError("an AT command is one line of ASCII without control characters")
    return command.encode("ascii") + b"\r"


def expected_prefixes(command: str) -> tuple[str, ...]:
    """Prefixes that answer ``command``: ``AT+CPIN?`` -> ``("+CPIN:",)``.

    The set form of a command named like a URC (``AT+CREG=2``, ``AT+CPIN="..."``) answers
    with a bare final, so a line with that prefix during it is unsolicited.
    """
    match = _COMMAND_NAME.match(command)
    if match is None:
        return ()
    prefix = match.group(1).upper() + ":"
    rest = command[match.end() :]
    if prefix in URC_PREFIXES and rest.startswith("=") and not rest.startswith("=?"):
        return ()
    return (prefix,)


class AtEngine:
    """One open port's command/response state. A new engine is made for every open."""

    def __init__(
        self,
        writer: Writer,
        listener: EngineListener,
        *,
        stats: EngineStats | None = None,
        extra_errors: tuple[str, ...] = (),
        resync_quiet: float = RESYNC_QUIET,
    ) -> None:
        self._writer = writer
        self._resync_quiet = resync_quiet
        self._listener = listener
        self.stats = stats if stats is not None else EngineStats()
        self._extra_errors = tuple(re.compile(p) for p in extra_errors)
        self._splitter = LineSplitter()
        self._lock = PriorityLock()
        self._current: _Pending | None = None
        self._urc_header: tuple[str, str] | None = None  # (prefix, line) awaiting its PDU
        self._closed: DriverError | None = None
        self._consecutive_timeouts = 0
        self._out_of_step = False  # a deadline was missed: its answer may still arrive
        # The modem waits for PDU text: any byte written now becomes part of a message.
        self._prompt_open = False
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def closed(self) -> bool:
        return self._closed is not None

    @property
    def consecutive_timeouts(self) -> int:
        return self._consecutive_timeouts

    @property
    def prompt_open(self) -> bool:
        """A ``> `` prompt came and neither its PDU nor ESC has been written since."""
        return self._prompt_open

    # ---- bytes in -------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes from the transport; never raises into the transport."""
        splitter = self._splitter
        garbage, overlong = splitter.garbage_bytes, splitter.overlong_lines
        noise_bytes, noise_lines = splitter.noise_bytes, splitter.noise_lines
        try:
            items = splitter.feed(data)
        finally:
            self.stats.garbage_bytes += splitter.garbage_bytes - garbage
            self.stats.overlong_lines += splitter.overlong_lines - overlong
            self.stats.noise_bytes += splitter.noise_bytes - noise_bytes
            self.stats.noise_lines += splitter.noise_lines - noise_lines
        for item in items:
            try:
                if isinstance(item, Prompt):
                    self._prompt_received()
                else:
                    self._line_received(item)
            except Exception:
                log.exception("AT line handling failed; continuing")

    def connection_lost(self, exc: BaseException | None) -> None:
        """The port is gone: fail the command in flight and everyone queued behind it."""
        if self._closed is None:
            self._closed = ModemDisconnected("port closed" if exc is None else "port lost")
        self._lock.fail_waiters(self._closed)
        pending, self._current = self._current, None
        if pending is not None:
            if not pending.done.done():
                pending.done.set_exception(self._closed)
            if pending.prompt is not None:
                pending.prompt.cancel()
        self._flush_urc_header()

    def _prompt_received(self) -> None:
        self._prompt_open = True
        pending = self._current
        if pending is not None and pending.prompt is not None and not pending.prompt.done():
            pending.prompt.set_result(None)
        else:
            log.debug("stray prompt: it is closed with ESC before the next command")

    def _line_received(self, line: str) -> None:
        if self._urc_header is not None:
            header_prefix, header = self._urc_header
            self._urc_header = None
            if is_hex_line(line):
                self._dispatch(Urc(header_prefix, header, line))
                return
            self._dispatch(Urc(header_prefix, header))  # header without its PDU: pass it on bare
        pending = self._current
        if pending is not None and line in pending.echoes:
            return
        prefix = urc_prefix(line)
        if prefix is not None and not (pending is not None and prefix in pending.expect):
            if has_pdu_line(prefix):
                self._urc_header = (prefix, line)
            else:
                self._dispatch(Urc(prefix, line))
            return
        if pending is None:
            if final_result("", line, self._extra_errors) is False:
                self.stats.unknown_urcs += 1
                log.debug("unsolicited line of %d chars with no command in flight", len(line))
            return
        outcome = final_result(pending.name, line, self._extra_errors)
        if outcome is False:
            if len(pending.lines) >= MAX_RESPONSE_LINES:
                self.stats.overlong_lines += 1  # a babbling modem: keep the deadline's promise
                return
            pending.lines.append(line)
            if pending.final_prefix is not None and line.startswith(pending.final_prefix):
                self._out_of_step = True  # an OK may follow after all: not the next one's
                self._finish(pending, None)
            return
        self._finish(pending, outcome)

    def _finish(self, pending: _Pending, error: DriverError | bool | None) -> None:
        self._current = None
        self._splitter.expect_prompt = False
        if pending.prompt is not None:
            self._prompt_open = False  # a final ends the text entry
        if pending.done.done():
            return
        if isinstance(error, DriverError):
            pending.done.set_exception(error)
        else:
            pending.done.set_result(pending.lines)
        if pending.prompt is not None and not pending.prompt.done():
            pending.prompt.cancel()

    def _dispatch(self, urc: Urc) -> None:
        self.stats.urcs += 1
        try:
            self._listener.urc_received(urc)
        except Exception:
            log.exception("URC listener failed for %s", urc.name)

    def _flush_urc_header(self) -> None:
        if self._urc_header is not None:
            prefix, header = self._urc_header
            self._urc_header = None
            self._dispatch(Urc(prefix, header))

    # ---- commands out ---------------------------------------------------------------

    async def command(
        self,
        command: str,
        *,
        seconds: float,
        priority: int = CommandPriority.SEND,
        expect: tuple[str, ...] | None = None,
        final_prefix: str | None = None,
        realign: bool = True,
        escape_first: bool = False,
    ) -> list[str]:
        """Run one command and return its intermediate lines (echo and URCs removed).

        ``expect`` lists the prefixes that answer it (derived from the command name when
        None); ``final_prefix`` ends the response at such a line for modems that omit
        the ``OK`` (``+CPIN:`` on some firmwares). ``realign=False`` skips the probe that
        follows a missed deadline: a reset must reach a modem that no longer answers.
        ``escape_first`` writes ESC ahead of it, for a modem that may sit at a prompt.
        """
        await self._lock.acquire(priority)
        handed_over = False
        try:
            if escape_first:
                self.escape_prompt()
            self._close_prompt()
            if realign:
                await self._resync(seconds)
            pending = self._start(command, expect, final_prefix)
            try:
                return await self._wait(pending, seconds)
            except asyncio.CancelledError:
                handed_over = self._linger(pending, seconds)
                raise
        finally:
            if not handed_over:
                self._lock.release()

    async def send_pdu(
        self,
        tpdu_length: int,
        pdu_hex: str,
        *,
        prompt_seconds: float,
        result_seconds: float,
        priority: int = CommandPriority.SEND,
    ) -> int:
        """AT+CMGS: write the length, wait for the prompt, write the PDU, return TP-MR.

        Before the PDU is written every failure is clean (the modem sent nothing). After
        it, a lost answer is ``SendUnknown``; the write and the wait for the answer run
        in a shielded task that keeps the port until the answer or its deadline, so a
        cancelled caller cannot leave the modem half-way through a send.
        """
        await self._lock.acquire(priority)
        handed_over = False
        try:
            self._close_prompt()
            await self._resync(prompt_seconds)
            pending = self._start(f"AT+CMGS={tpdu_length}", ("+CMGS:",), None, want_prompt=True)
            try:
                await self._wait_prompt(pending, prompt_seconds)
            except asyncio.CancelledError:
                handed_over = self._hand_over(self._escape(pending))
                raise
            pending.echoes.update((pdu_hex, pdu_hex.upper()))
            self._write(pdu_hex.encode("ascii") + CTRL_Z)
            self._prompt_open = False
            task = asyncio.create_task(self._await_cmgs(pending, result_seconds), name="cmgs")
            handed_over = self._hand_over(task)
            return await asyncio.shield(task)
        finally:
            if not handed_over:
                self._lock.release()

    async def _wait_prompt(self, pending: _Pending, seconds: float) -> None:
        assert pending.prompt is not None
        try:
            async with asyncio.timeout(seconds):
                await asyncio.wait(
                    (pending.prompt, pending.done), return_when=asyncio.FIRST_COMPLETED
                )
        except TimeoutError:
            await self._escape(pending)
            raise self._timed_out(pending.name, seconds) from None
        if pending.done.done():
            pending.done.result()  # the final that came instead of the prompt, or the loss
            raise DriverError(f"{pending.name}: final result before the prompt")
        if pending.prompt.cancelled():
            raise self._closed or ModemDisconnected("port lost")

    def _hand_over(self, work: Coroutine[Any, Any, Any] | asyncio.Task[Any]) -> bool:
        """Run ``work`` in a task that owns the port lock until it finishes."""
        task = work if isinstance(work, asyncio.Task) else asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background_done)
        return True

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        self._lock.release()
        if not task.cancelled():
            task.exception()  # retrieved here: its caller may have been cancelled

    def _linger(self, pending: _Pending, seconds: float) -> bool:
        """A cancelled caller's command keeps the port until its answer or deadline."""
        if self._closed is not None or pending.done.done():
            if self._current is pending:
                self._current = None
            return False
        return self._hand_over(self._drain(pending, seconds))

    async def _drain(self, pending: _Pending, seconds: float) -> None:
        with contextlib.suppress(DriverError):
            await self._wait(pending, seconds)

    async def _await_cmgs(self, pending: _Pending, seconds: float) -> int:
        try:
            lines = await self._wait(pending, seconds)
        except (CommandTimeout, ModemDisconnected) as exc:
            raise SendUnknown(f"AT+CMGS answer lost ({exc.code})") from exc
        for line in lines:
            if match := _CMGS.match(line):
                return int(match.group(1)) & 0xFF
        raise SendUnknown("AT+CMGS answered OK without a message reference")

    def escape_prompt(self) -> None:
        """Write ESC: a modem left at a ``> `` prompt drops the text and answers a final.

        A modem at no prompt ignores it, so whether a final comes is unknown: the next
        command first pairs answers with commands again (see ``_resync``).
        """
        if self._closed is not None:
            return
        self._write(ESC)
        self._prompt_open = False
        self._out_of_step = True

    def _close_prompt(self) -> None:
        """No command is written into an open prompt: it would be sent as message text."""
        if self._prompt_open:
            log.debug("closing an open prompt before the next command")
            self.escape_prompt()

    async def _escape(self, pending: _Pending) -> None:
        """Cancel a half-open CMGS so the next command is not taken as PDU text."""
        if self._closed is None:
            self._write(ESC)
            self._prompt_open = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ESCAPE_GRACE):
                    await asyncio.wait((pending.done,))
        if self._current is pending:
            self._current = None
        if not pending.done.done():
            self._out_of_step = True  # its final may still come
            pending.done.cancel()
        elif not pending.done.cancelled():
            pending.done.exception()

    async def _resync(self, seconds: float) -> None:
        """After a missed deadline, pair answers with commands again before the next one.

        A late answer to the timed-out command would otherwise end the next command. The
        modem answers in order, so whatever it still owes arrives before its answer to a
        fresh ``AT``; a final that follows the first one within ``RESYNC_QUIET`` is the
        probe's own, and the drain goes on until the line stays quiet that long. A probe
        that times out leaves the engine out of step (and counts as a missed deadline).
        """
        if not self._out_of_step:
            return
        missed = self._consecutive_timeouts  # an answered probe does not cure a hang
        probe = self._start("AT", (), None)
        try:
            with contextlib.suppress(CommandError):  # any final: the modem answered
                await self._wait(probe, seconds)
            self._consecutive_timeouts = missed
            while self._closed is None:
                drain = self._start("AT", (), None, write=False)
                try:
                    async with asyncio.timeout(self._resync_quiet):
                        await asyncio.shield(drain.done)
                except TimeoutError:
                    break
                except CommandError:
                    pass
                finally:
                    self._forget(drain)
        finally:
            self._forget(probe)
        if self._closed is not None:
            raise self._closed
        self._out_of_step = False
        log.debug("answers paired with commands again after a missed deadline")

    def _forget(self, pending: _Pending) -> None:
        if self._current is pending:
            self._current = None
        if not pending.done.done():
            pending.done.cancel()

    def _start(
        self,
        command: str,
        expect: tuple[str, ...] | None,
        final_prefix: str | None,
        *,
        want_prompt: bool = False,
        write: bool = True,
    ) -> _Pending:
        if self._closed is not None:
            raise self._closed
        data = encode_command(command)
        loop = asyncio.get_running_loop()
        pending = _Pending(
            command=command,
            name=command_name(command),
            expect=expected_prefixes(command) if expect is None else expect,
            final_prefix=final_prefix,
            done=loop.create_future(),
            prompt=loop.create_future() if want_prompt else None,
            echoes={command, command.upper()},
        )
        # A +CMT/+CDS header stays pending: the modem writes its PDU line before anything
        # it says about this command, even when a read ended between the two lines.
        self._current = pending  # registered before the write: no reply can be missed
        self._splitter.expect_prompt = want_prompt
        if write:
            self.stats.commands += 1
            self._write(data)
        return pending

    async def _wait(self, pending: _Pending, seconds: float) -> list[str]:
        """Wait for the final result; a cancelled caller leaves ``pending`` registered."""
        try:
            async with asyncio.timeout(seconds):
                lines = await asyncio.shield(pending.done)
        except TimeoutError:
            if self._current is pending:
                self._current = None
            pending.done.cancel()
            self._out_of_step = True
            raise self._timed_out(pending.name, seconds) from None
        self._consecutive_timeouts = 0
        return lines

    def _timed_out(self, name: str, seconds: float) -> CommandTimeout:
        self._consecutive_timeouts += 1
        self.stats.timeouts += 1
        self._splitter.expect_prompt = False
        log.debug(
            "%s missed its %.3g s deadline (%d in a row)", name, seconds, self._consecutive_timeouts
        )
        try:
            self._listener.command_timed_out(self._consecutive_timeouts)
        except Exception:
            log.exception("timeout listener failed")
        return CommandTimeout(name, seconds)

    def _write(self, data: bytes) -> None:
        if self._closed is not None:
            raise self._closed
        self._writer.write(data)

    def close(self) -> None:
        """Deliberate close: same as a loss for everyone still waiting."""
        self.connection_lost(None)
