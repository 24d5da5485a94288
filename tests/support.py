"""Helpers shared by test folders that run a daemon: a free port and polling with a deadline."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.fleet.supervisor import SupervisorSettings

POLL_INTERVAL = 0.02  # seconds between checks


class SteppedClock:
    """Wall time that a test sets or steps, running on from there in real time.

    A daemon built with it sees "21:00 in the clinic's zone" whatever the hour, and the
    loop's timers still fire: stepping to just before a deadline lets the real timer
    armed for it go off a moment later, so nothing is slept out or faked past.
    """

    def __init__(self, at: float) -> None:
        self._offset = 0.0
        self.set(at)

    def __call__(self) -> float:
        return time.time() + self._offset

    def set(self, at: float) -> None:
        self._offset = at - time.time()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def poll_until(
    check: Callable[[], Awaitable[Any]],
    what: str,
    within: float,
    *,
    interval: float = POLL_INTERVAL,
) -> Any:
    """Poll ``check`` until it returns something truthy, or fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(interval)


# Supervision bounds short enough for tests: a fault hold that never outlasts a test, and
# resets and stops that give up in seconds.
FAST_SUPERVISION = SupervisorSettings(
    fault_hold=30.0, reset_deadline=2.0, stop_grace=2.0, modem_stop_deadline=3.0
)
