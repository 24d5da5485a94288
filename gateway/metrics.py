"""Prometheus metrics: what a technician's dashboards and alerts read.

Two kinds live here. Gauges describing *now* (modem state, signal, queue depth,
store size) are read from the service when Prometheus scrapes, by ``OpsCollector``,
so they can never drift from the daemon's own view. Counters and histograms for
*events* (segments sent, resets, HTTP requests) are incremented by the code that
sees the event, through the small methods of ``Metrics``.

Label values are only modem names (configured, or derived from a by-id link for
a glob port's devices: gateway.fleet.discovery), states, error classes, outcomes and
route patterns. ``safe_label`` enforces that at every call site, so a phone
number or a text can never become a time series (invariant 3): anything that is
not a short lowercase token becomes ``"other"``.

Everything uses a registry of its own, so two daemons in one process (tests)
never share a counter. All durations are in seconds.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Protocol

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from drivers.types import ModemState, Registration
from gateway.core.service import ModemStatus
from gateway.core.waiting import MODEM_REASONS, WaitReason
from gateway.store.base import MessageState, Priority, Store

LOGGER = logging.getLogger(__name__)

PREFIX: Final = "smsgw"
OTHER: Final = "other"
UNMATCHED_ROUTE: Final = "unmatched"

# A send is one AT+CMGS round trip: from tens of milliseconds on a quiet LTE
# modem to the two-minute worst case some 2G modems need before answering.
SEND_DURATION_BUCKETS_SECONDS: Final = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0
)  # fmt: skip
HTTP_DURATION_BUCKETS_SECONDS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
)  # fmt: skip
STATS_MAX_AGE_SECONDS: Final = 2.0  # scrapes and page polls closer than this share one query

MODEM_STATES: Final = (*(s.value for s in ModemState), "degraded")
UP_STATES: Final = frozenset({ModemState.READY.value, "degraded"})
REGISTRATIONS: Final = tuple(r.value for r in Registration)
REGISTERED: Final = frozenset({Registration.HOME.value, Registration.ROAMING.value})
PRIORITIES: Final = tuple(p.name.lower() for p in Priority)
MESSAGE_STATES: Final = tuple(s.value for s in MessageState)
CONSENT_CHANGES: Final = ("opted_out", "opted_in")
CONSENT_SOURCES: Final = ("keyword", "api")
SUPPRESSED_STAGES: Final = ("intake", "send")  # refused or recorded at intake; stopped in the queue
SIM_STATES: Final = ("ready", "pin", "missing", "error")
_SIM_STATE_OF: Final = {"ready": "ready", "pin": "pin", "puk": "pin", "absent": "missing"}
DELIVERY_OUTCOMES: Final = ("delivered", "failed", "pending", "unmatched")
WEBHOOK_OUTCOMES: Final = ("delivered", "failed", "abandoned")

# A label value: a lowercase token of up to 48 characters, without a run of five
# digits (which is how a phone number would look, however it was punctuated).
_LABEL_RE: Final = re.compile(r"[a-z][a-z0-9_.:-]{0,47}")
_DIGIT_RUN_RE: Final = re.compile(r"[0-9][0-9 .()-]{3,}[0-9]")
_MODEM_NAME_RE: Final = re.compile(r"[a-z0-9_-]{1,32}")  # as gateway.config accepts
_ROUTE_RE: Final = re.compile(r"/[A-Za-z0-9_./{}-]{0,99}")


def _version() -> str:
    try:
        return importlib.metadata.version("smsgw")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def safe_label(value: str | None) -> str:
    """A label value we are sure carries no PHI; anything else becomes ``other``."""
    if value is None:
        return OTHER
    token = value.strip().lower()
    if not _LABEL_RE.fullmatch(token) or _DIGIT_RUN_RE.search(token):
        return OTHER
    return token


def sim_state_label(sim: str) -> str:
    """The driver's SIM reading (AT+CPIN?) as one of ``SIM_STATES``: a SIM that does not
    answer, or answers something we do not know, is an error a technician must look at."""
    return _SIM_STATE_OF.get(sim, "error")


class ModemCounters(Protocol):
    """A modem's own running counts (``drivers.engine.EngineStats``), read at each scrape."""

    @property
    def noise_bytes(self) -> int: ...
    @property
    def noise_lines(self) -> int: ...
    @property
    def undecodable_pdus(self) -> int: ...
    @property
    def pdu_rereads(self) -> int: ...
    @property
    def stored_outgoing_deleted(self) -> int: ...


# (metric name, help), in the order of ``_counts``.
MODEM_COUNTERS: Final = (
    ("noise_bytes", "Stray bytes (0x80-0xFF) ahead of the modem's lines: a bad cable or UART."),
    ("noise_lines", "Lines from the modem made of nothing but such bytes."),
    ("undecodable_pdus", "Stored PDUs that did not decode, re-reads included."),
    ("pdu_rereads", "Storage slots read again because their PDU did not decode."),
    (
        "stored_outgoing_deleted",
        "Outgoing messages another program left in the modem's storage, deleted to free it.",
    ),
)


def _counts(counters: ModemCounters) -> tuple[int, ...]:
    c = counters
    return (
        c.noise_bytes,
        c.noise_lines,
        c.undecodable_pdus,
        c.pdu_rereads,
        c.stored_outgoing_deleted,
    )


def modem_label(name: str) -> str:
    """Modem names are configured or derived (both [a-z0-9_-]{1,32}), so they pass as given."""
    return name if _MODEM_NAME_RE.fullmatch(name) else OTHER


def route_label(pattern: str | None) -> str:
    """An aiohttp route's canonical pattern (``/v1/messages/{id}``), never a raw path."""
    if pattern is None or not _ROUTE_RE.fullmatch(pattern):
        return UNMATCHED_ROUTE
    return pattern


class StatusSource(Protocol):
    """The part of ``GatewayService`` the collector and the status page read."""

    @property
    def store(self) -> Store: ...

    def modems(self) -> list[ModemStatus]: ...


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """Counts from ``Store.stats()`` plus the age of the oldest message due to be sent."""

    at: float
    by_state: dict[str, int]
    queued_by_priority: dict[str, int]
    store_size_bytes: int | None
    oldest_queued_age_seconds: float
    inbound_parts_waiting: int | None = None  # parts of long texts waiting for the rest
    ok: bool = True  # False: the store did not answer; counts are those of the last success


EMPTY_SNAPSHOT: Final = QueueSnapshot(0.0, {}, {p: 0 for p in PRIORITIES}, None, 0.0, ok=False)


@dataclass(slots=True)
class _Today:
    """Per-modem counts since local midnight (or since start), for the status page."""

    day: str = ""
    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)

    def roll(self, now: float) -> None:
        day = time.strftime("%Y-%m-%d", time.localtime(now))
        if day != self.day:
            self.day, self.sent, self.failed = day, {}, {}


class Metrics:
    """The daemon's metric registry and the event counters the runtime and API increment.

    Create one per daemon; the daemon hands it to dispatch, inbound, reports,
    webhooks and the HTTP app.
    """

    def __init__(self, modem_names: Iterable[str] = ()) -> None:
        # ``*_created`` series only double the series count; the daemon owns the process,
        # so switching them off (a process-wide setting of the client library) is ours to do.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)  # process_cpu_seconds_total, resident memory, fds
        Info(f"{PREFIX}_build", "The running smsgw.", registry=r).info({"version": _version()})
        self.segments_sent = Counter(
            f"{PREFIX}_segments_sent", "Segments a modem accepted (+CMGS).", ["modem"], registry=r
        )
        self.segments_failed = Counter(
            f"{PREFIX}_segments_failed",
            "Segment sends that failed, by the policy's error class.",
            ["modem", "error_class"],
            registry=r,
        )
        self.send_duration = Histogram(
            f"{PREFIX}_send_duration_seconds",
            "Time from writing AT+CMGS to its final answer, success or not.",
            ["modem"],
            buckets=SEND_DURATION_BUCKETS_SECONDS,
            registry=r,
        )
        self.modem_resets = Counter(
            f"{PREFIX}_modem_resets", "Modem resets and reopens, by reason.", ["modem", "reason"],
            registry=r,
        )  # fmt: skip
        self.inbound_messages = Counter(
            f"{PREFIX}_inbound_messages",
            "Inbound SMS committed to the store (multipart counted once).",
            ["modem"],
            registry=r,
        )
        self.inbound_undecodable = Counter(
            f"{PREFIX}_inbound_undecodable",
            "Received PDUs that did not decode: kept sealed in the store, freed on the modem.",
            ["modem"],
            registry=r,
        )
        self.delivery_reports = Counter(
            f"{PREFIX}_delivery_reports",
            "Status reports received, by what they said about the message.",
            ["modem", "outcome"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            f"{PREFIX}_webhook_deliveries",
            "Webhook POST attempts, by outcome (abandoned: retries exhausted).",
            ["outcome"],
            registry=r,
        )
        self.http_requests = Counter(
            f"{PREFIX}_http_requests",
            "HTTP requests answered, by route pattern, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern and method.",
            ["route", "method"],
            buckets=HTTP_DURATION_BUCKETS_SECONDS,
            registry=r,
        )
        self.messages_waiting = Gauge(
            f"{PREFIX}_messages_waiting",
            "Queued messages by why they wait (scheduled, rate_window, daily_cap, ...).",
            ["reason"],
            registry=r,
        )
        self.consent_changes = Counter(
            f"{PREFIX}_consent_changes",
            "Opt-out list changes: opted_out or opted_in, by keyword (the patient) or api.",
            ["change", "source"],
            registry=r,
        )
        self.suppressed_sends = Counter(
            f"{PREFIX}_suppressed_sends",
            "Messages not sent because the number opted out: refused or recorded at intake, "
            "or stopped before their first segment (send).",
            ["stage"],
            registry=r,
        )
        self._last_success: dict[str, float] = {}
        self._waiting: Mapping[WaitReason, int] = {}
        self._counters: dict[str, ModemCounters] = {}
        self._today = _Today()
        for outcome in WEBHOOK_OUTCOMES:
            self.webhook_deliveries.labels(outcome)
        for change in CONSENT_CHANGES:
            for source in CONSENT_SOURCES:
                self.consent_changes.labels(change, source)
        for stage in SUPPRESSED_STAGES:
            self.suppressed_sends.labels(stage)
        for name in modem_names:
            self.add_modem(name)

    def add_modem(self, name: str) -> None:
        """Start a modem's counters at zero so ``rate()`` sees its first event."""
        modem = modem_label(name)
        self.segments_sent.labels(modem)
        self.send_duration.labels(modem)
        self.inbound_messages.labels(modem)
        self.inbound_undecodable.labels(modem)
        for outcome in DELIVERY_OUTCOMES:
            self.delivery_reports.labels(modem, outcome)

    def watch_waiting(self, counts: Mapping[WaitReason, int]) -> None:
        """Read the scheduler's counts by reason, which it keeps as items come and go."""
        self._waiting = counts
        for reason in counts:
            self.messages_waiting.labels(reason.value).set_function(_reader(counts, reason))

    def waiting(self) -> dict[str, int]:
        """Queued messages by why they wait, the reasons that hold any (the status page)."""
        return {reason.value: n for reason, n in self._waiting.items() if n > 0}

    def watch_modem_counters(self, modem: str, counters: ModemCounters) -> None:
        """Export a modem's own counts (line noise, bad PDUs), read when scraped."""
        self._counters[modem_label(modem)] = counters

    def modem_counters(self) -> list[tuple[str, ModemCounters]]:
        return list(self._counters.items())

    # -- the runtime's call sites ------------------------------------------------

    def segment_sent(self, modem: str, duration_seconds: float, *, at: float | None = None) -> None:
        now = time.time() if at is None else at
        name = modem_label(modem)
        self.segments_sent.labels(name).inc()
        self.send_duration.labels(name).observe(duration_seconds)
        self._last_success[name] = now
        self._today.roll(now)
        self._today.sent[name] = self._today.sent.get(name, 0) + 1

    def segment_failed(
        self, modem: str, error_class: str, duration_seconds: float | None = None
    ) -> None:
        """``duration_seconds`` is None when the modem was never asked (e.g. it was down)."""
        name = modem_label(modem)
        self.segments_failed.labels(name, safe_label(error_class)).inc()
        if duration_seconds is not None:
            self.send_duration.labels(name).observe(duration_seconds)
        self._today.roll(time.time())
        self._today.failed[name] = self._today.failed.get(name, 0) + 1

    def modem_reset(self, modem: str, reason: str) -> None:
        self.modem_resets.labels(modem_label(modem), safe_label(reason)).inc()

    def inbound_received(self, modem: str) -> None:
        self.inbound_messages.labels(modem_label(modem)).inc()

    def undecodable_pdu(self, modem: str) -> None:
        self.inbound_undecodable.labels(modem_label(modem)).inc()

    def delivery_report(self, modem: str, outcome: str) -> None:
        """``outcome``: delivered, failed, pending (a temporary status) or unmatched."""
        label = outcome if outcome in DELIVERY_OUTCOMES else OTHER
        self.delivery_reports.labels(modem_label(modem), label).inc()

    def consent_change(self, change: str, source: str) -> None:
        """``change``: one of CONSENT_CHANGES; ``source``: one of CONSENT_SOURCES."""
        self.consent_changes.labels(
            change if change in CONSENT_CHANGES else OTHER,
            source if source in CONSENT_SOURCES else OTHER,
        ).inc()

    def suppressed_send(self, stage: str, count: int = 1) -> None:
        """``stage``: one of SUPPRESSED_STAGES."""
        if count:
            self.suppressed_sends.labels(stage if stage in SUPPRESSED_STAGES else OTHER).inc(count)

    def webhook_delivery(self, outcome: str) -> None:
        """``outcome``: delivered (2xx), failed (will retry) or abandoned (gave up)."""
        self.webhook_deliveries.labels(outcome if outcome in WEBHOOK_OUTCOMES else OTHER).inc()

    def http_request(self, route: str | None, method: str, status: int, seconds: float) -> None:
        route_value = route_label(route)
        method_value = safe_label(method)
        self.http_requests.labels(route_value, method_value, str(status)).inc()
        self.http_duration.labels(route_value, method_value).observe(seconds)

    # -- what the status page shows ----------------------------------------------

    def last_success(self, modem: str) -> float | None:
        return self._last_success.get(modem_label(modem))

    def today(self, modem: str) -> tuple[int, int]:
        """(segments sent, segments failed) since local midnight or daemon start."""
        self._today.roll(time.time())
        name = modem_label(modem)
        return self._today.sent.get(name, 0), self._today.failed.get(name, 0)


# -- queue snapshot -------------------------------------------------------------


def _reader(counts: Mapping[WaitReason, int], reason: WaitReason) -> Callable[[], float]:
    return lambda: counts[reason]


def _split_stats(stats: Mapping[str, int]) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Read ``Store.stats()``: counts by state, queued by priority, and the other figures.

    Keys as the store writes them: ``messages_<state>``, ``queued_<priority>``,
    ``db_bytes``, ``inbound_parts_waiting``, ``unmatched_reports``.
    """
    by_state: dict[str, int] = {}
    by_priority: dict[str, int] = {}
    other: dict[str, int] = {}
    for key, value in stats.items():
        head, _, tail = key.partition("_")
        if head == "messages" and tail in MESSAGE_STATES:
            by_state[tail] = int(value)
        elif head == "queued" and tail in PRIORITIES:
            by_priority[tail] = int(value)
        else:
            other[key] = int(value)
    return by_state, by_priority, other


class QueueView:
    """Store counts for scrapes and page polls, queried at most every ``max_age_seconds``."""

    def __init__(
        self,
        store: Callable[[], Store],
        *,
        max_age_seconds: float = STATS_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._max_age = max_age_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self.snapshot: QueueSnapshot | None = None

    async def refresh(self) -> QueueSnapshot:
        async with self._lock:
            now = self._clock()
            current = self.snapshot
            if current is not None and now - current.at < self._max_age:
                return current
            store = self._store()
            try:
                by_state, by_priority, other = _split_stats(await store.stats())
                # Scanning the queue is needed only when something is queued at all.
                queued = by_state.get(MessageState.QUEUED.value, 0)
                oldest = await _oldest_due_age(store, now) if queued else 0.0
            except Exception:  # a scrape must still answer: modem metrics matter most then
                LOGGER.warning("store figures unavailable for metrics", exc_info=True)
                self.snapshot = replace(current or EMPTY_SNAPSHOT, at=now, ok=False)
                return self.snapshot
            for priority in PRIORITIES:
                by_priority.setdefault(priority, 0)
            self.snapshot = QueueSnapshot(
                at=now,
                by_state=by_state,
                queued_by_priority=by_priority,
                store_size_bytes=other.get("db_bytes"),
                oldest_queued_age_seconds=oldest,
                inbound_parts_waiting=other.get("inbound_parts_waiting"),
            )
            return self.snapshot


async def _oldest_due_age(store: Store, now: float) -> float:
    """Seconds the longest-waiting due message has waited past its send time (0 if none)."""
    oldest = await store.oldest_due(now)
    return 0.0 if oldest is None else max(0.0, now - oldest)


# -- the scrape-time collector --------------------------------------------------


class OpsCollector(Collector):
    """Gauges read from the service at scrape time (after ``QueueView.refresh``)."""

    def __init__(self, source: StatusSource, queue: QueueView, metrics: Metrics) -> None:
        self._source = source
        self._queue = queue
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on the modems; describing them would call the service

    def collect(self) -> Iterator[Metric]:
        yield from self._modem_families(self._source.modems())
        yield from self._counter_families(self._metrics.modem_counters())
        yield from self._queue_families(self._queue.snapshot)

    def _modem_families(self, modems: Sequence[ModemStatus]) -> Iterator[Metric]:
        p = PREFIX
        up = GaugeMetricFamily(f"{p}_modem_up", "1 when the modem can send.", labels=["modem"])
        state = GaugeMetricFamily(
            f"{p}_modem_state", "1 for the modem's current state, 0 for the others.",
            labels=["modem", "state"],
        )  # fmt: skip
        signal = GaugeMetricFamily(
            f"{p}_modem_signal_dbm", "Received signal strength (AT+CSQ), dBm.", labels=["modem"]
        )
        registration = GaugeMetricFamily(
            f"{p}_modem_registration",
            "1 for the modem's current network registration, 0 for the others.",
            labels=["modem", "registration"],
        )
        registered = GaugeMetricFamily(
            f"{p}_modem_registered", "1 when registered (home or roaming).", labels=["modem"]
        )
        last_seen = GaugeMetricFamily(
            f"{p}_modem_last_seen_timestamp_seconds",
            "When the modem last answered anything (POSIX seconds).",
            labels=["modem"],
        )
        last_success = GaugeMetricFamily(
            f"{p}_modem_last_send_success_timestamp_seconds",
            "When the modem last had a segment accepted (POSIX seconds).",
            labels=["modem"],
        )
        info = GaugeMetricFamily(
            f"{p}_modem_info",
            "Modem hardware, always 1 (no IMEI, IMSI or ICCID).",
            labels=["modem", "profile", "manufacturer", "model", "revision"],
        )
        balance = GaugeMetricFamily(
            f"{p}_modem_balance",
            "Prepaid credit read from the last USSD balance check, in the SIM's currency.",
            labels=["modem"],
        )
        balance_at = GaugeMetricFamily(
            f"{p}_modem_balance_timestamp_seconds",
            "When the last USSD balance check was answered (POSIX seconds).",
            labels=["modem"],
        )
        sim = GaugeMetricFamily(
            f"{p}_modem_sim_state",
            "1 for the SIM's state at the last poll (ready, pin, missing, error), else 0.",
            labels=["modem", "state"],
        )
        storage_used = GaugeMetricFamily(
            f"{p}_modem_storage_used_messages",
            "Messages held in the modem's receive storage (AT+CPMS) at the last poll.",
            labels=["modem"],
        )
        storage_capacity = GaugeMetricFamily(
            f"{p}_modem_storage_capacity_messages",
            "How many messages the modem's receive storage holds (AT+CPMS).",
            labels=["modem"],
        )
        waiting = GaugeMetricFamily(
            f"{p}_modem_waiting",
            "1 for why the modem takes no work now (rate_window, daily_cap, modem_held, "
            "not_registered, modem_down), 0 for the other reasons; all 0 when it would.",
            labels=["modem", "reason"],
        )
        for m in modems:
            name = modem_label(m.name)
            why = m.waiting.reason if m.waiting is not None else None
            for reason in MODEM_REASONS:
                waiting.add_metric([name, reason.value], 1.0 if why is reason else 0.0)
            if m.balance is not None:
                balance.add_metric([name], m.balance)
            if m.balance_at is not None:
                balance_at.add_metric([name], m.balance_at)
            up.add_metric([name], 1.0 if m.state in UP_STATES else 0.0)
            for s in MODEM_STATES:
                state.add_metric([name, s], 1.0 if m.state == s else 0.0)
            health = m.health
            if health is not None:
                if health.signal_dbm is not None:
                    signal.add_metric([name], float(health.signal_dbm))
                current = health.registration.value
                for r in REGISTRATIONS:
                    registration.add_metric([name, r], 1.0 if current == r else 0.0)
                registered.add_metric([name], 1.0 if current in REGISTERED else 0.0)
                sim_now = sim_state_label(health.sim)
                for state_name in SIM_STATES:
                    sim.add_metric([name, state_name], 1.0 if sim_now == state_name else 0.0)
                if health.storage_used is not None:
                    storage_used.add_metric([name], float(health.storage_used))
                if health.storage_total is not None:
                    storage_capacity.add_metric([name], float(health.storage_total))
            if m.last_seen is not None:
                last_seen.add_metric([name], m.last_seen)
            success = self._metrics.last_success(m.name)
            if success is not None:
                last_success.add_metric([name], success)
            ident = m.identity
            info.add_metric(
                [
                    name,
                    safe_label(m.profile),
                    _hardware_label(ident.manufacturer if ident else None),
                    _hardware_label(ident.model if ident else None),
                    _hardware_label(ident.revision if ident else None),
                ],
                1.0,
            )
        yield from (up, state, signal, registration, registered, last_seen, last_success, info)
        yield from (balance, balance_at, sim, storage_used, storage_capacity, waiting)

    def _counter_families(self, watched: Sequence[tuple[str, ModemCounters]]) -> Iterator[Metric]:
        counts = [(name, _counts(counters)) for name, counters in watched]
        for i, (metric, text) in enumerate(MODEM_COUNTERS):
            family = CounterMetricFamily(f"{PREFIX}_modem_{metric}", text, labels=["modem"])
            for name, values in counts:
                family.add_metric([name], float(values[i]))
            yield family

    def _queue_families(self, snap: QueueSnapshot | None) -> Iterator[Metric]:
        p = PREFIX
        store_up = GaugeMetricFamily(
            f"{p}_store_up", "1 when the last store query for these figures succeeded."
        )
        store_up.add_metric([], 1.0 if snap is not None and snap.ok else 0.0)
        yield store_up
        if snap is None:
            return
        messages = GaugeMetricFamily(
            f"{p}_messages", "Messages in the store, by state.", labels=["state"]
        )
        for s in MESSAGE_STATES:
            messages.add_metric([s], float(snap.by_state.get(s, 0)))
        depth = GaugeMetricFamily(
            f"{p}_queue_depth", "Messages waiting to be sent, by priority.", labels=["priority"]
        )
        for priority, count in sorted(snap.queued_by_priority.items()):
            depth.add_metric([priority], float(count))
        oldest = GaugeMetricFamily(
            f"{p}_queue_oldest_age_seconds",
            "How long the longest-waiting due message has waited past its send time.",
        )
        oldest.add_metric([], snap.oldest_queued_age_seconds)
        yield from (messages, depth, oldest)
        if snap.store_size_bytes is not None:
            size = GaugeMetricFamily(f"{p}_store_size_bytes", "Size of the store on disk.")
            size.add_metric([], float(snap.store_size_bytes))
            yield size
        if snap.inbound_parts_waiting is not None:
            parts = GaugeMetricFamily(
                f"{p}_inbound_parts_waiting",
                "Parts of long inbound texts held until the rest arrives.",
            )
            parts.add_metric([], float(snap.inbound_parts_waiting))
            yield parts


_HARDWARE_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.,:/+-]{0,63}")


def _hardware_label(value: str | None) -> str:
    """Manufacturer, model and firmware strings as the modem reports them (not PHI)."""
    if value is None:
        return ""
    text = value.strip()
    return text if _HARDWARE_RE.fullmatch(text) else OTHER


# -- aiohttp glue -----------------------------------------------------------------


def http_metrics_middleware(metrics: Metrics) -> Middleware:
    """Counts every request by its route *pattern*; place it outermost so 4xx/5xx count too."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            resource = request.match_info.route.resource
            pattern = resource.canonical if resource is not None else None
            metrics.http_request(pattern, request.method, status, time.perf_counter() - started)

    return middleware


class MetricsEndpoint:
    """``GET /metrics``: refresh the store figures, then render the registry."""

    def __init__(self, source: StatusSource, metrics: Metrics, queue: QueueView) -> None:
        self.metrics = metrics
        self.queue = queue
        metrics.registry.register(OpsCollector(source, queue, metrics))

    async def handle(self, request: web.Request) -> web.Response:
        await self.queue.refresh()
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        response = web.Response(body=encoder(self.metrics.registry))
        response.headers["Content-Type"] = content_type
        response.headers["Cache-Control"] = "no-store"
        return response
