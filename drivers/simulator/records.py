"""What the simulated modem saw and did, for tests to assert on and wait for."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from drivers.pdu import Submit


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One SMS-SUBMIT segment the simulated network accepted."""

    reference: int  # the TP-MR answered in +CMGS
    submit: Submit  # decoded once, on acceptance
    pdu_hex: str  # as written by the client (SMSC part included)
    at: float  # time.time() of acceptance
    answered: bool = True  # False when the +CMGS answer was lost (hang_after_prompt)


class Records:
    """``sent`` segments and ``commands`` lines, with event-based waits (all in seconds)."""

    def __init__(self) -> None:
        self.sent: list[SentMessage] = []
        self.commands: list[str] = []
        self._sent_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._command_waiters: list[tuple[str, asyncio.Future[str]]] = []
        # (monotonic time, "command" | "answer") of each AT+CMGS read and +CMGS answer
        # written, kept only once a benchmark asks (a long test would grow it forever)
        self.send_times: list[tuple[float, str]] | None = None

    def add_sent(self, message: SentMessage) -> None:
        self.sent.append(message)
        n = len(self.sent)
        for count, fut in self._sent_waiters:
            if n >= count and not fut.done():
                fut.set_result(None)

    def add_command(self, line: str) -> None:
        self.commands.append(line)
        if self.send_times is not None and line[:7].upper() == "AT+CMGS":
            self.send_times.append((time.monotonic(), "command"))
        if self._command_waiters:
            upper = line.upper()
            for prefix, fut in self._command_waiters:
                if upper.startswith(prefix) and not fut.done():
                    fut.set_result(line)

    def answer_written(self) -> None:
        if self.send_times is not None:
            self.send_times.append((time.monotonic(), "answer"))

    async def wait_sent(self, count: int, deadline: float) -> list[SentMessage]:
        if len(self.sent) < count:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (count, fut)
            self._sent_waiters.append(entry)
            try:
                async with asyncio.timeout(deadline):
                    await fut
            finally:
                self._sent_waiters.remove(entry)
        return list(self.sent)

    async def wait_command(self, prefix: str, deadline: float, start: int) -> str:
        wanted = prefix.upper()
        for seen in self.commands[start:]:
            if seen.upper().startswith(wanted):
                return seen
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        entry = (wanted, fut)
        self._command_waiters.append(entry)
        try:
            async with asyncio.timeout(deadline):
                return await fut
        finally:
            self._command_waiters.remove(entry)

    def cancel_waiters(self) -> None:
        for _, fut in self._sent_waiters:
            fut.cancel()
        for _, cfut in self._command_waiters:
            cfut.cancel()
