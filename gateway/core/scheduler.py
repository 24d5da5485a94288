"""The in-memory send queue: which queued message a given modem should send next.

It mirrors the store's ``queued`` messages (ids and scheduling facts only, no PHI)
so that picking the next message never touches SQLite. The store stays the
truth: a restart rebuilds this queue from ``Store.queued()``.

Structure, chosen so that 50,000 bulk messages never slow down an urgent one:

- Items that are *due* live in pools, one per distinct ``Eligibility`` (route
  pool, sticky modem, excluded modems). A pool is a heap ordered by
  (priority, due sequence), so FIFO within a priority. A route has one pool in
  the common case; a few more appear for sticky replies and retries.
- ``next_for(modem)`` peeks at the head of each pool the modem may serve and pops
  the best one: O(pools + log n), never a scan of the items.
- Items with a future ``send_at`` wait in a timer heap; items with an expiry sit
  in an expiry heap. One ``loop.call_at``-style handle is armed for the earliest
  of the two, so there is no polling loop. An item its category's quiet hours hold
  (the injected ``hold``) waits in the same timer heap until they end.
- Removal (cancel, expiry) is lazy: the id leaves ``_live`` and its heap entries
  are skipped when they surface.
- At start the queue is loaded from the store in the background, in id order
  (``begin_loading``, ``loaded_through``, ``end_loading``): nothing is served until it
  is all in, and a message accepted meanwhile, newer than what the load has read,
  waits aside and joins after the load, so the order stays first in, first out.
- Why an item waits (``waiting``) is kept per pool, since items sharing an
  eligibility wait for the same modems: a modem's change (``set_ready``,
  ``set_modem_waiting``) re-derives each pool's reason, O(pools), and the counts
  by reason move by whole pools, never by a scan of the items.

Timestamps are POSIX seconds from the injected clock (the store's time base).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from gateway.core.waiting import Waiting, WaitReason
from gateway.store.base import Priority, QueueItem

Clock = Callable[[], float]
# When an item may not be sent at a time it is otherwise due (its category's quiet
# hours, gateway.core.quiet_hours): the time it may, else None.
Hold = Callable[[QueueItem, float], float | None]


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Which modems may take an item; hashable, so items that share it share a pool.

    ``modems`` empty means every modem. ``preferred`` (sticky) wins while it is
    ready; ``fallback`` lets any ready modem take the item when none of the pool
    is ready and has not failed the item (a sticky message leaves its modem when that
    modem is out of rotation or failed it with a "move" verdict, and no sooner: the
    patient keeps one sender number while it can send). ``excluded`` holds modems that
    failed this item. ``route`` names the
    route the pool was made for, so the pool can grow when a modem joins that
    route at run time (``Scheduler.regroup``). ``awaited`` is a sticky modem not in the
    pool yet (a glob family's device not found again since a restart): it becomes
    ``preferred`` when it joins.
    """

    modems: frozenset[str] = frozenset()
    fallback: bool = False
    preferred: str | None = None
    excluded: frozenset[str] = frozenset()
    route: str | None = None
    awaited: str | None = None

    def allows(self, modem: str, ready: AbstractSet[str], known: AbstractSet[str]) -> bool:
        """Whether ``modem`` (ready) may take the item now.

        Exclusions are advisory: an excluded modem is used again when no other
        candidate is ready, so an item is never stranded by its own history
        (the retry budget bounds the attempts).
        """
        preferred = self.preferred
        if preferred is not None and preferred in ready and preferred not in self.excluded:
            return modem == preferred
        pool = self.modems or known
        usable = pool if (pool & ready or not self.fallback) else known
        first_choice = usable - self.excluded
        if modem in first_choice:
            return True
        return modem in usable and not (first_choice & ready)

    def excluding(self, modem: str) -> Eligibility:
        return Eligibility(
            self.modems, self.fallback, self.preferred, self.excluded | {modem}, self.route
        )


ANY_MODEM = Eligibility()


_NOBODY = Waiting(WaitReason.NO_ELIGIBLE_MODEM)


@dataclass(slots=True)
class _Entry:
    item: QueueItem
    eligibility: Eligibility
    token: int  # unique per add(): heap entries of an earlier add() are stale
    seq: int = -1  # due sequence; -1 while waiting for send_at
    timed: bool = False  # in the timer heap, counted as SCHEDULED or QUIET_HOURS
    held_until: float | None = None  # in the timer heap for quiet hours that end then

    @property
    def timed_reason(self) -> WaitReason:
        return WaitReason.SCHEDULED if self.held_until is None else WaitReason.QUIET_HOURS


@dataclass(slots=True)
class _Pool:
    eligibility: Eligibility
    heap: list[tuple[int, int, str]] = field(default_factory=list)  # (priority, seq, id)
    live: int = 0
    waiting: Waiting = _NOBODY  # why its items wait


class Scheduler:
    """Priority queue over queued messages, served to modem workers one at a time."""

    def __init__(self, *, clock: Clock, hold: Hold | None = None) -> None:
        self._clock = clock
        self._hold = hold
        self._live: dict[str, _Entry] = {}
        self._pools: dict[Eligibility, _Pool] = {}
        self._timers: list[tuple[float, int, str]] = []  # (send_at, token, id) not yet due
        self._expiries: list[tuple[float, int, str]] = []  # (expires_at, token, id)
        self._counter = itertools.count()
        self._ready: set[str] = set()
        self._known: set[str] = set()
        self._wakeup = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._expired: list[QueueItem] = []
        self._expired_event = asyncio.Event()
        self._modem_waiting: dict[str, Waiting] = {}
        self._waiting_counts: dict[WaitReason, int] = dict.fromkeys(WaitReason, 0)
        self._loading = False
        self._loaded_through = ""  # the last id the load has read ("" sorts before all)
        self._aside: dict[str, tuple[QueueItem, Eligibility]] = {}  # accepted while loading

    # modems --------------------------------------------------------------

    def add_modem(self, name: str) -> None:
        if name not in self._known:
            self._known.add(name)
            self._rewait()

    def set_ready(self, name: str, ready: bool) -> None:
        """Readiness decides sticky and fallback eligibility, and whether a worker is served."""
        self._known.add(name)
        if ready == (name in self._ready):
            return
        if ready:
            self._ready.add(name)
        else:
            self._ready.discard(name)
        self._rewait()
        self._notify()

    def is_ready(self, name: str) -> bool:
        return name in self._ready

    def has_alternative(self, eligibility: Eligibility, modem: str) -> bool:
        """Whether a ready modem other than ``modem`` could take an item now."""
        return any(
            eligibility.allows(m, self._ready, self._known) for m in self._ready if m != modem
        )

    def regroup(self, change: Callable[[Eligibility], Eligibility]) -> int:
        """Give queued items the eligibility ``change`` maps theirs to (a modem joined
        their route), keeping their place in line; returns how many items changed.

        Pools are re-keyed whole (items sharing an eligibility share its answer), so
        this costs one pass over the items, paid only when a modem appears.
        """
        answers: dict[Eligibility, Eligibility] = {}

        def new_of(old: Eligibility) -> Eligibility:
            found = answers.get(old)
            if found is None:
                found = answers[old] = change(old)
            return found

        changed = 0
        for message_id, (item, eligibility) in self._aside.items():
            self._aside[message_id] = (item, new_of(eligibility))
        for entry in self._live.values():
            new = new_of(entry.eligibility)
            if new != entry.eligibility:
                entry.eligibility = new
                changed += 1
        for old, pool in list(self._pools.items()):
            new = new_of(old)
            if new == old:
                continue
            del self._pools[old]
            target = self._pools.get(new)
            if target is None:
                pool.eligibility = new
                self._pools[new] = pool
            else:
                target.heap.extend(pool.heap)
                heapq.heapify(target.heap)
                target.live += pool.live
                self._waiting_counts[pool.waiting.reason] -= pool.live
                self._waiting_counts[target.waiting.reason] += pool.live
        self._rewait()
        if changed:
            self._notify()
        return changed

    # loading -------------------------------------------------------------

    @property
    def loading(self) -> bool:
        """True from ``begin_loading`` to ``end_loading``: nothing is served meanwhile."""
        return self._loading

    def begin_loading(self) -> None:
        self._loading = True
        self._loaded_through = ""

    def loaded_through(self, message_id: str) -> None:
        """The load has read the store's queued messages up to this id (in id order)."""
        self._loaded_through = max(self._loaded_through, message_id)

    def end_loading(self) -> None:
        """The load is in: what was accepted meanwhile joins behind it, and workers wake."""
        self._loading = False
        aside, self._aside = self._aside, {}
        self.add_many(entry for entry in aside.values() if entry[0].id not in self._live)
        self._notify()

    # items ---------------------------------------------------------------

    def add(self, item: QueueItem, eligibility: Eligibility = ANY_MODEM) -> None:
        """Queue (or re-queue) an item; an item already queued is replaced."""
        self.add_many(((item, eligibility),))

    def add_many(self, items: Iterable[tuple[QueueItem, Eligibility]]) -> None:
        """Queue (or re-queue) items, made due in the order given; workers and the
        timer are told once for the lot, so a batch of a thousand costs one wake-up."""
        now = self._clock()
        due = expired = False
        for item, eligibility in items:
            if self._loading and item.id > self._loaded_through:
                self._aside[item.id] = (item, eligibility)  # the load may not have read it
                continue
            self.remove(item.id)
            entry = _Entry(item, eligibility, next(self._counter))
            self._live[item.id] = entry
            expires_at = item.expires_at
            if expires_at is not None:
                heapq.heappush(self._expiries, (expires_at, entry.token, item.id))
                if expires_at <= now:
                    expired = True
                    continue
            release = None if self._hold is None else self._hold(item, max(item.send_at, now))
            if release is not None or item.send_at > now:
                at = item.send_at if release is None else release
                heapq.heappush(self._timers, (at, entry.token, item.id))
                entry.timed = True
                entry.held_until = release
                self._waiting_counts[entry.timed_reason] += 1
            else:
                self._make_due(entry)
                due = True
        if expired:
            self._expire_due(now)
        if due:
            self._notify()
        self._arm_timer()

    def remove(self, message_id: str) -> bool:
        """Forget an item (cancelled); False when it was not queued here."""
        entry = self._live.pop(message_id, None)
        if entry is None:
            return self._aside.pop(message_id, None) is not None
        pool = self._pools.get(entry.eligibility)
        if entry.seq >= 0 and pool is not None:
            pool.live -= 1
            self._waiting_counts[pool.waiting.reason] -= 1
        elif entry.timed:
            self._waiting_counts[entry.timed_reason] -= 1
        return True

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._live or message_id in self._aside

    def __len__(self) -> int:
        return len(self._live) + len(self._aside)

    def counts(self) -> dict[Priority, int]:
        out = dict.fromkeys(Priority, 0)
        for entry in self._live.values():
            out[entry.item.priority] += 1
        for item, _ in self._aside.values():
            out[item.priority] += 1
        return out

    def get(self, message_id: str) -> QueueItem | None:
        entry = self._live.get(message_id)
        if entry is None:
            aside = self._aside.get(message_id)
            return aside[0] if aside is not None else None
        return entry.item

    def eligibility(self, message_id: str) -> Eligibility | None:
        entry = self._live.get(message_id)
        if entry is None:
            aside = self._aside.get(message_id)
            return aside[1] if aside is not None else None
        return entry.eligibility

    # serving -------------------------------------------------------------

    async def next_for(self, modem: str) -> QueueItem:
        """Wait until ``modem`` is ready and an item it may send is due; claim it."""
        self._known.add(modem)
        while True:
            item = self.take(modem)
            if item is not None:
                return item
            await self._wakeup.wait()

    def take(self, modem: str, *, better_than: Priority | None = None) -> QueueItem | None:
        """Claim the best due item for ``modem`` now, or None.

        With ``better_than``, only an item of strictly higher priority qualifies:
        a worker in the middle of a long message uses it to let urgent ones through.
        """
        if modem not in self._ready or self._loading:
            return None
        best: tuple[int, int, str] | None = None
        best_pool: _Pool | None = None
        for pool in list(self._pools.values()):
            head = self._head(pool)
            if head is None:
                continue
            if not pool.eligibility.allows(modem, self._ready, self._known):
                continue
            if best is None or head < best:
                best, best_pool = head, pool
        if best is None or best_pool is None:
            return None
        if better_than is not None and best[0] >= better_than:
            return None
        heapq.heappop(best_pool.heap)
        best_pool.live -= 1
        self._waiting_counts[best_pool.waiting.reason] -= 1
        entry = self._live.pop(best[2])
        if best_pool.live == 0:
            del self._pools[best_pool.eligibility]
        return entry.item

    def held_until(self, item: QueueItem) -> float | None:
        """When ``item`` may be sent, if that is not now (its quiet hours); else None.
        A worker asks before the first segment, as a queue may outlast the evening."""
        return None if self._hold is None else self._hold(item, self._clock())

    def take_expired(self) -> list[QueueItem]:
        """Items whose ``expires_at`` passed while queued; the caller marks them expired."""
        out, self._expired = self._expired, []
        self._expired_event.clear()
        return out

    async def wait_expired(self) -> list[QueueItem]:
        while not self._expired:
            await self._expired_event.wait()
        return self.take_expired()

    # waiting -------------------------------------------------------------

    def set_modem_waiting(self, name: str, waiting: Waiting | None) -> None:
        """Why ``name`` takes no work now (None: it would); only what ``waiting`` says
        depends on it, not who is served."""
        self._known.add(name)
        if waiting is None:
            if self._modem_waiting.pop(name, None) is None:
                return
        elif self._modem_waiting.get(name) == waiting:
            return
        else:
            self._modem_waiting[name] = waiting
        self._rewait()

    def modem_waiting(self, name: str) -> Waiting | None:
        return self._modem_waiting.get(name)

    def waiting(self, message_id: str) -> Waiting | None:
        """Why a queued item is not being sent; None when it is not queued here."""
        entry = self._live.get(message_id)
        if entry is None:
            return None
        if entry.seq < 0:
            if not entry.timed:
                return None
            until = entry.item.send_at if entry.held_until is None else entry.held_until
            return Waiting(entry.timed_reason, until=until)
        pool = self._pools.get(entry.eligibility)
        return pool.waiting if pool is not None else self._waiting_of(entry.eligibility)

    def waiting_counts(self) -> Mapping[WaitReason, int]:
        """Queued items by why they wait; kept as items and modems change (a live view)."""
        return self._waiting_counts

    def _rewait(self) -> None:
        """Re-derive each pool's reason after a modem changed; O(pools x modems)."""
        counts = self._waiting_counts
        for pool in self._pools.values():
            waiting = self._waiting_of(pool.eligibility)
            if waiting != pool.waiting:
                counts[pool.waiting.reason] -= pool.live
                counts[waiting.reason] += pool.live
                pool.waiting = waiting

    def _waiting_of(self, eligibility: Eligibility) -> Waiting:
        """The reason of the modem that may take the items soonest."""
        preferred = eligibility.preferred
        if preferred is not None and preferred in self._ready:
            candidates: AbstractSet[str] = {preferred}
        elif eligibility.modems:
            candidates = eligibility.modems & self._known
            if eligibility.fallback and not candidates:
                candidates = self._known
        else:
            candidates = self._known
        best: Waiting | None = None
        for name in sorted(candidates):
            why = self._modem_waiting.get(name)
            if why is None:
                if name in self._ready:
                    return Waiting(WaitReason.IN_LINE, name)
                why = Waiting(WaitReason.MODEM_DOWN, name)
            if best is None or (
                why.until is not None and (best.until is None or why.until < best.until)
            ):
                best = why
        return best or _NOBODY

    # time ----------------------------------------------------------------

    def refresh(self) -> None:
        """Promote items whose ``send_at`` came and expire old ones (the timer calls this)."""
        if self._timer is not None:
            self._timer.cancel()  # a manual refresh; the timer is re-armed below
        self._timer = None
        self._timer_at = None
        now = self._clock()
        promoted = False
        while self._timers and self._timers[0][0] <= now:
            _, token, message_id = heapq.heappop(self._timers)
            entry = self._live.get(message_id)
            if entry is not None and entry.token == token and entry.seq < 0:
                entry.timed = False
                self._waiting_counts[entry.timed_reason] -= 1
                entry.held_until = None
                self._make_due(entry)
                promoted = True
        self._expire_due(now)
        if promoted:
            self._notify()
        self._arm_timer()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = None

    # internals -----------------------------------------------------------

    def _pool_for(self, eligibility: Eligibility) -> _Pool:
        pool = self._pools.get(eligibility)
        if pool is None:
            pool = self._pools[eligibility] = _Pool(
                eligibility, waiting=self._waiting_of(eligibility)
            )
        return pool

    def _make_due(self, entry: _Entry) -> None:
        entry.seq = next(self._counter)
        pool = self._pool_for(entry.eligibility)
        heapq.heappush(pool.heap, (int(entry.item.priority), entry.seq, entry.item.id))
        pool.live += 1
        self._waiting_counts[pool.waiting.reason] += 1

    def _head(self, pool: _Pool) -> tuple[int, int, str] | None:
        """The pool's best live entry, dropping stale ones (removed or re-added)."""
        heap = pool.heap
        while heap:
            head = heap[0]
            entry = self._live.get(head[2])
            if entry is not None and entry.seq == head[1]:
                return head
            heapq.heappop(heap)
        if pool.live <= 0:
            self._pools.pop(pool.eligibility, None)
        return None

    def _current(self, token: int, message_id: str) -> bool:
        entry = self._live.get(message_id)
        return entry is not None and entry.token == token

    def _expire_due(self, now: float) -> None:
        found = False
        while self._expiries and self._expiries[0][0] <= now:
            _, token, message_id = heapq.heappop(self._expiries)
            entry = self._live.get(message_id)
            if entry is None or entry.token != token:
                continue
            self.remove(message_id)
            self._expired.append(entry.item)
            found = True
        if found:
            self._expired_event.set()

    def _next_deadline(self) -> float | None:
        for heap in (self._expiries, self._timers):
            while heap and not self._current(heap[0][1], heap[0][2]):
                heapq.heappop(heap)
        times = [heap[0][0] for heap in (self._timers, self._expiries) if heap]
        return min(times) if times else None

    def _arm_timer(self) -> None:
        at = self._next_deadline()
        if at is None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
                self._timer_at = None
            return
        if self._timer is not None and self._timer_at is not None and self._timer_at <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        delay = max(0.0, at - self._clock())
        self._timer = asyncio.get_running_loop().call_later(delay, self.refresh)
        self._timer_at = at

    def _notify(self) -> None:
        self._wakeup.set()
        self._wakeup = asyncio.Event()
