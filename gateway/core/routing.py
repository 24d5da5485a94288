"""Routes: which modems may send a message.

At accept time ``route_for`` picks the first ``[[routes]]`` rule whose prefixes
match the E.164 number; its name is stored with the message. At queue time
``eligibility`` turns that name (plus the patient's conversation modem, for
sticky routes) into the scheduler's ``Eligibility``. Readiness is applied late,
by the scheduler, so a modem going down moves work without re-routing.

A message no rule matches, or whose rule was removed from the config since it
was accepted, may use every enabled modem, sticky and with fallback.

Modems can join at run time (a glob port's devices, gateway.fleet.discovery): the family
itself is never a pool member; each device found is ``add_modem``-ed with the
family's tags, and ``widen`` tells the queue which pools grew.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from gateway.config import ModemConfig, RouteConfig
from gateway.core.scheduler import Eligibility
from gateway.store.base import QueueItem, Store

DEFAULT_ROUTE = RouteConfig(name="default", sticky=True, fallback=True)
MAX_CACHED_ELIGIBILITIES: Final = 1024  # route names x sticky modems; stale route names too
# A name no modem can have: the pool of a route whose modems are not there yet (a family
# with no device found) holds only this, because an empty pool means "every modem".
NOT_YET_PRESENT: Final = ""


class Router:
    def __init__(self, routes: Sequence[RouteConfig], modems: Sequence[ModemConfig]) -> None:
        self._routes = tuple(routes)
        self._by_name = {r.name: r for r in self._routes}
        self._modems: tuple[ModemConfig, ...] = ()
        self._all: frozenset[str] = frozenset()
        self._pools: dict[str, frozenset[str]] = {}
        # One object per distinct answer: the scheduler's pool lookup then matches by identity.
        self._eligibilities: dict[tuple[str | None, str | None], Eligibility] = {}
        self._set_modems(tuple(m for m in modems if m.enabled and not m.is_family))

    def add_modem(self, modem: ModemConfig) -> None:
        """A modem found at run time joins every pool its name or tags put it in."""
        if modem.name not in self._all:
            self._set_modems((*self._modems, modem))

    def widen(self, old: Eligibility) -> Eligibility:
        """``old`` with its route's pool as it is now (after ``add_modem``); a sticky
        modem it awaited is preferred once it is in the pool."""
        if not old.modems:
            return old  # every modem already, whoever joins
        pool = self._eligible_pool(old.route)
        if old.awaited is not None and old.awaited in pool:
            return replace(old, modems=pool, preferred=old.awaited, awaited=None)
        return old if pool == old.modems else replace(old, modems=pool)

    def _set_modems(self, modems: tuple[ModemConfig, ...]) -> None:
        self._modems = modems
        self._all = frozenset(m.name for m in modems)
        self._pools = {r.name: self._pool_of(r) for r in self._routes}
        self._eligibilities.clear()

    def _eligible_pool(self, name: str | None) -> frozenset[str]:
        return self.pool(name) or frozenset({NOT_YET_PRESENT})

    def route_for(self, number: str) -> str | None:
        """Name of the first rule matching the E.164 ``number``; None for the default."""
        for route in self._routes:
            if route.matches(number):
                return route.name
        return None

    def national_language(self, name: str | None) -> str | None:
        """The route's opt-in national language table for GSM-7, if any."""
        return self.rule(name).national_language

    def rule(self, name: str | None) -> RouteConfig:
        return self._by_name.get(name, DEFAULT_ROUTE) if name is not None else DEFAULT_ROUTE

    def pool(self, name: str | None) -> frozenset[str]:
        """The route's modems; every enabled modem for the default route."""
        if name is None:
            return self._all
        return self._pools.get(name, self._all)

    def eligibility(self, name: str | None, sticky_modem: str | None = None) -> Eligibility:
        """``sticky_modem``: where the patient last wrote; used only inside the route's pool."""
        found = self._eligibilities.get((name, sticky_modem))
        if found is not None:
            return found
        rule = self.rule(name)
        pool = self._eligible_pool(name)
        wanted = sticky_modem if rule.sticky else None
        # A modem not in the pool may be a family's device not found yet (at a restart
        # the queue is rebuilt first): awaited, so that it is preferred once it joins.
        preferred, awaited = (wanted, None) if wanted in pool else (None, wanted)
        found = Eligibility(
            modems=pool, fallback=rule.fallback, preferred=preferred, route=name, awaited=awaited
        )
        if len(self._eligibilities) < MAX_CACHED_ELIGIBILITIES:
            self._eligibilities[(name, sticky_modem)] = found
        return found

    async def resolve(self, item: QueueItem, store: Store) -> Eligibility:
        """The item's eligibility, looking up its conversation modem for sticky routes."""
        sticky: str | None = None
        if self.rule(item.route).sticky:
            sticky = await store.conversation_modem(item.to_hash)
        return self.eligibility(item.route, sticky)

    def _pool_of(self, route: RouteConfig) -> frozenset[str]:
        if route.modems:
            return frozenset(route.modems) & self._all
        if route.tags:
            wanted = set(route.tags)
            return frozenset(m.name for m in self._modems if wanted.intersection(m.tags))
        return self._all
