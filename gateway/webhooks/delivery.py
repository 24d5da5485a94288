"""Delivery of outbox rows: its own task, never awaited by the send path.

The loop reads what is due, starts one delivery task per row (at most
``concurrency`` at a time per receiver), and sleeps until the next row is due or
something wakes it (a new event, a finished attempt). Each attempt has a
deadline; a failure schedules the next one after an exponential backoff with
jitter, and the last allowed attempt dead-letters the row. Every attempt is
recorded. Hosts are checked before connecting (``hosts``): an address the rules refuse
is never contacted and its row is dead at once, recorded as ``refused: <why>``.
The outbox orders rows per conversation (see ``gateway.store.outbox``), so a row
waiting for its retry holds back the rows behind it, and only those.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

import aiohttp

from gateway.core.clock_guard import ClockGuard
from gateway.errors import StoreError
from gateway.store.base import DEAD, DELIVERED, PENDING, Attempt, DueDelivery, Store
from gateway.webhooks import targets
from gateway.webhooks.hosts import CallbackHosts, CallbackRefused, GuardedResolver, literal_refusal
from gateway.webhooks.subscriptions import Registry

log = logging.getLogger(__name__)

# All durations in seconds.
DAY: Final = 86400.0
MAX_ANSWER_BYTES: Final = 65536
REFUSED: Final = "refused: "  # prefix of the error recorded for a host the rules refuse


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    max_attempts: int = 12  # then the row is dead-lettered
    backoff_initial: float = 5.0  # before the second attempt; doubles each time
    backoff_max: float = 3600.0
    attempt_timeout: float = 10.0  # one request, connect to last byte of the answer
    concurrency: int = 4  # requests in flight per receiver
    batch: int = 200  # rows read per pass
    idle_wake: float = 30.0  # longest sleep of the loop with nothing due
    retention: float = 7 * DAY  # delivered and dead rows are kept this long
    purge_interval: float = 3600.0


class DeliveryMetrics(Protocol):
    """Where attempts are counted (``gateway.metrics.Metrics``), handed in by the daemon."""

    def webhook_delivery(self, outcome: str) -> None:
        """``outcome``: delivered (2xx), failed (will retry) or abandoned (gave up)."""
        ...


# An attempt's outcome as counted, by the state it leaves its row in.
OUTCOMES: Final = {
    DELIVERED: "delivered",
    PENDING: "failed",
    DEAD: "abandoned",
}


def backoff(settings: WebhookSettings, attempt: int, rng: random.Random) -> float:
    """Exponential, capped, with jitter in [half, full] so retries of many rows spread."""
    delay = min(settings.backoff_max, settings.backoff_initial * 2.0 ** (attempt - 1))
    return float(delay * (0.5 + rng.random() / 2))


class WebhookDelivery:
    """The task that sends due outbox rows to subscribers (not the per-modem send workers)."""

    def __init__(
        self,
        registry: Registry,
        settings: WebhookSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        callback_hosts: CallbackHosts | None = None,
        metrics: DeliveryMetrics | None = None,
        clock_guard: ClockGuard | None = None,
    ) -> None:
        self._store: Store | None = None
        self._clock_guard = clock_guard
        self._metrics = metrics
        self._registry = registry
        self._hosts = callback_hosts or CallbackHosts()
        self.settings = settings or WebhookSettings()
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self._wake = asyncio.Event()
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._per_receiver: Counter[str] = Counter()
        # By trust: a trusted host (listed, or a configured subscription) may be on
        # loopback or a private network; each session's resolver enforces its rules.
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        self._task: asyncio.Task[None] | None = None
        self._purge_task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        """Something was enqueued: look again now."""
        self._wake.set()

    def start(self, store: Store) -> None:
        self._store = store
        self._sessions = {
            trusted: aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.attempt_timeout),
                connector=aiohttp.TCPConnector(limit=0, resolver=GuardedResolver(trusted=trusted)),
            )
            for trusted in (False, True)
        }
        self._task = asyncio.get_running_loop().create_task(self._run(), name="webhooks")
        self._purge_task = asyncio.get_running_loop().create_task(
            self._purge_loop(), name="webhooks-purge"
        )

    async def stop(self) -> None:
        """Attempts in flight are abandoned; their rows stay pending and go out after restart."""
        tasks = [t for t in (self._task, self._purge_task) if t is not None]
        tasks.extend(self._in_flight.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = self._purge_task = None
        self._in_flight.clear()
        self._per_receiver.clear()
        for session in self._sessions.values():
            await session.close()
        self._sessions = {}

    def _require_store(self) -> Store:
        if self._store is None:
            raise StoreError("the webhook dispatcher has no store")
        return self._store

    async def _run(self) -> None:
        settings = self.settings
        while True:
            self._wake.clear()
            now = self._clock()
            limit = settings.batch + len(self._in_flight)
            try:
                due, next_at = await self._require_store().due_deliveries(now, limit)
            except Exception:
                log.exception("reading the webhook outbox failed")
                due, next_at = [], None
            started = sum(1 for row in due if self._start(row))
            if started and len(due) >= limit:
                continue  # more may be due behind this batch
            if next_at is not None and next_at > now:
                delay = min(next_at - now, settings.idle_wake)
            else:
                delay = settings.idle_wake  # due rows wait for a slot; a finish wakes us
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    def _start(self, row: DueDelivery) -> bool:
        if row.id in self._in_flight:
            return False
        if self._per_receiver[row.subscriber] >= self.settings.concurrency:
            return False
        self._per_receiver[row.subscriber] += 1
        task = asyncio.get_running_loop().create_task(self._deliver(row), name=f"webhook-{row.id}")
        self._in_flight[row.id] = task
        return True

    async def _deliver(self, row: DueDelivery) -> None:
        try:
            await self._attempt(row)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook delivery %s failed unexpectedly", row.id)
        finally:
            self._in_flight.pop(row.id, None)
            self._per_receiver[row.subscriber] -= 1
            self._wake.set()

    def _request(self, row: DueDelivery) -> tuple[targets.HttpRequest | None, int, bool]:
        """The request to make (None: receiver gone), the receiver's attempt limit, and
        whether its host is trusted (listed in callback_hosts, or from the config file)."""
        payload = row.payload
        limit = self.settings.max_attempts
        if row.subscriber in (targets.TWILIO_CALLBACK, targets.KANNEL_DLR):
            secret = self._require_store().callback_secret
            request = targets.callback_request(row.subscriber, payload, secret)
            return request, limit, self._hosts.matches(request.url)
        sub = self._registry.get(row.subscriber)
        if sub is None:
            return None, limit, False
        if sub.max_attempts is not None:
            limit = sub.max_attempts
        trusted = sub.from_config or self._hosts.matches(sub.url)
        if sub.format == "twilio":
            params = json.loads(payload)["params"]
            return targets.twilio_request(sub.url, sub.secret.decode(), params), limit, trusted
        request = targets.smsgw_request(sub.url, sub.secret, payload, row.kind, row.id)
        return request, limit, trusted

    async def _attempt(self, row: DueDelivery) -> None:
        number = row.attempts + 1
        started_at, started = self._clock(), time.monotonic()
        status: int | None = None
        request, limit, trusted = self._request(row)
        if request is None:
            error: str | None = "subscription removed"
            limit = number  # dead at once
        else:
            error = await self._send(request, trusted=trusted)
            if error is not None and error.startswith(REFUSED):
                limit = number  # dead at once: retrying would not change the rules
            if error is None:
                status = 200
            elif error.startswith("http "):
                status = int(error[5:])
        attempt = Attempt(started_at, number, status, error, time.monotonic() - started)
        if error is None:
            state, next_at = DELIVERED, None
        elif number >= limit:
            state, next_at = DEAD, None
            log.warning("webhook %s to %s dead after %d attempts", row.id, row.subscriber, number)
        else:
            state = PENDING
            next_at = self._clock() + backoff(self.settings, number, self._rng)
        await self._require_store().record_attempt(row.id, attempt, state=state, next_at=next_at)
        if self._metrics is not None:
            self._metrics.webhook_delivery(OUTCOMES[state])

    async def _send(self, request: targets.HttpRequest, *, trusted: bool) -> str | None:
        """None on a 2xx answer, else a short class of failure (no URL, no body: PHI-free)."""
        reason = literal_refusal(request.url, trusted=trusted)  # resolvers never see these
        if reason is not None:
            return REFUSED + reason
        session = self._sessions[trusted]
        try:
            async with session.request(
                request.method,
                request.url,
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
            ) as response:
                await response.content.read(MAX_ANSWER_BYTES)  # kept short; never stored
                if 200 <= response.status < 300:
                    return None
                return f"http {response.status}"
        except TimeoutError:
            return "timeout"
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, CallbackRefused):
                return REFUSED + exc.os_error.reason
            return "connect"
        except aiohttp.ClientConnectionError:
            return "connect"
        except aiohttp.ClientError as exc:
            return type(exc).__name__

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.purge_interval)  # a modelled period
            if self._clock_guard is not None and self._clock_guard.hold("webhook outbox purge"):
                continue
            cutoff = self._clock() - self.settings.retention
            try:
                removed = await self._require_store().purge_deliveries(cutoff)
            except Exception:
                log.exception("purging the webhook outbox failed")
            else:
                if removed:
                    log.info("webhook outbox purge removed %d row(s)", removed)
