"""One open of the port: its link, its engine, and everything that lives exactly as long.

A ``Session`` is made for every open and thrown away on loss, so no state of a dead port
(a half-read +CMT, the selected memory, a pending USSD) leaks into the next one. It is the
engine's listener and the link's byte sink, and reports the loss reasons supervision acts
on: "unplugged", "unresponsive" (N timeouts in a row: silence is a disconnect; supervision
escalates repeated ones to a hard reset), "reset".
All timeouts in seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from drivers.engine import AtEngine, CommandPriority, EngineStats, expected_prefixes
from drivers.errors import CommandError
from drivers.quirks import VendorProfile
from drivers.settings import ModemSettings
from drivers.transport import SerialLink
from drivers.types import StoredLocation
from drivers.urcs import Urc

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 5.0  # the port closes in an executor thread: bound the wait for it

UssdAnswer = tuple[int, str | None, int | None]  # +CUSD: <m>,<str>,<dcs>


class Session:
    def __init__(
        self,
        settings: ModemSettings,
        profile: VendorProfile,
        *,
        name: str,
        stats: EngineStats,
        on_urc: Callable[[Session, Urc], None],
        generation: int = 0,
    ) -> None:
        self.generation = generation  # counts the opens of this port; see StoredLocation
        self.settings = settings
        self.profile = profile  # "auto" replaces it once the identity is known
        self.name = name
        self._on_urc = on_urc
        self.link = SerialLink(settings.port, baudrate=settings.baudrate)
        self.link.attach(self)
        self.engine = AtEngine(
            self.link,
            self,
            stats=stats,
            extra_errors=profile.error_finals,
            resync_quiet=settings.resync_quiet,
        )
        self.lost = asyncio.Event()
        self.reason = ""
        self.booting = True
        self.resetting = False  # a port loss from now on is the reset we asked for
        self.reset_accepted = False  # the modem took the reset command: its port will vanish
        self.boot_started = False
        self.boot_line = asyncio.Event()
        self.urcs: asyncio.Queue[Urc] = asyncio.Queue()
        self.tasks: set[asyncio.Task[None]] = set()
        self.storage = asyncio.Lock()  # CPMS switch + read/delete must not interleave
        self.memory: str | None = None  # current <mem1>
        self.receive_memory: str | None = None
        self.report_memory: str | None = None
        self.cnma_required = False
        self.indications: str | None = None  # the AT+CNMI command init settled on
        self.routing: tuple[int, int] = (0, 0)  # its <mt> and <ds>
        self.emitted: set[StoredLocation] = set()  # handed out, not yet deleted
        self.routed = 0  # routed +CMT/+CDS handed out with an ack token by this open
        self.unacked: dict[int, float] = {}  # their numbers -> when, until AT+CNMA
        self.ussd_waiter: asyncio.Future[UssdAnswer] | None = None

    # ByteSink (transport -> here)
    def feed(self, data: bytes) -> None:
        self.engine.feed(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.engine.connection_lost(exc)
        self.mark_lost("reset" if self.resetting else "unplugged")

    # EngineListener (engine -> here)
    def urc_received(self, urc: Urc) -> None:
        self._on_urc(self, urc)

    def command_timed_out(self, consecutive: int) -> None:
        if self.booting:
            return  # probing a modem that is still starting: timeouts are expected
        log.warning("%s: command timed out (%d in a row)", self.name, consecutive)
        if consecutive >= self.settings.max_consecutive_timeouts:
            self.mark_lost("unresponsive")

    def mark_lost(self, reason: str) -> None:
        if not self.lost.is_set():
            self.reason = reason
            self.lost.set()

    # commands ------------------------------------------------------------------------

    async def run(
        self,
        command: str,
        priority: CommandPriority = CommandPriority.RESET,
        *,
        final_prefix: str | None = None,
    ) -> list[str]:
        """One command under the command timeout; an answer the profile knows to come
        without its OK (``info_finals``) ends at its information line."""
        if final_prefix is None:
            final_prefix = self.profile.info_final(expected_prefixes(command))
        return await self.engine.command(
            command,
            seconds=self.settings.command_timeout,
            priority=priority,
            final_prefix=final_prefix,
        )

    async def optional(
        self,
        command: str,
        priority: CommandPriority = CommandPriority.RESET,
        *,
        final_prefix: str | None = None,
    ) -> list[str]:
        """A command some firmwares lack: an error answer means "no information"."""
        try:
            return await self.run(command, priority, final_prefix=final_prefix)
        except CommandError:
            return []

    async def use_memory(self, memory: str) -> None:
        """Select ``<mem1>`` (read/list/delete); callers hold ``storage``."""
        if self.memory != memory:
            await self.run(f'AT+CPMS="{memory}"', CommandPriority.READ)
            self.memory = memory

    # tasks ---------------------------------------------------------------------------

    def spawn(self, coro: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(f"modem:{self.name}:{name}")
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s failed", task.get_name(), exc_info=exc)

    async def stop_tasks(self) -> None:
        """Cancel this open's own tasks, so none of them queues a command any more."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        self.engine.close()
        if self.ussd_waiter is not None and not self.ussd_waiter.done():
            self.ussd_waiter.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.link.close()
        except TimeoutError:
            log.warning("%s: port close did not finish within %g s", self.name, CLOSE_TIMEOUT)
