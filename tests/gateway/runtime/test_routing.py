"""Routes: prefix matching, pools by name or tag, sticky and fallback."""

from __future__ import annotations

from typing import Any

from gateway.config import ModemConfig, RouteConfig
from gateway.core.routing import Router
from gateway.store.base import Priority, QueueItem

MODEMS = (
    ModemConfig(name="uk1", port="/dev/a", tags=("uk",)),
    ModemConfig(name="uk2", port="/dev/b", tags=("uk",)),
    ModemConfig(name="us1", port="/dev/c", tags=("us",)),
    ModemConfig(name="off", port="/dev/d", tags=("uk",), enabled=False),
)
ROUTES = (
    RouteConfig(name="uk", prefixes=("+44",), tags=("uk",), sticky=True, fallback=False),
    RouteConfig(name="us_one", prefixes=("+1555",), modems=("us1",), sticky=False),
    RouteConfig(name="rest"),
)


def test_first_matching_rule_wins() -> None:
    r = Router(ROUTES, MODEMS)
    assert r.route_for("+447700900123") == "uk"
    assert r.route_for("+15551234567") == "us_one"
    assert r.route_for("+33612345678") == "rest"
    assert Router(ROUTES[:2], MODEMS).route_for("+33612345678") is None


def test_pools_by_tag_and_name_skip_disabled_modems() -> None:
    r = Router(ROUTES, MODEMS)
    assert r.pool("uk") == {"uk1", "uk2"}
    assert r.pool("us_one") == {"us1"}
    assert r.pool("rest") == {"uk1", "uk2", "us1"}
    assert r.pool(None) == {"uk1", "uk2", "us1"}
    assert r.pool("removed_since") == {"uk1", "uk2", "us1"}


def test_eligibility_sticky_only_inside_the_pool() -> None:
    r = Router(ROUTES, MODEMS)
    e = r.eligibility("uk", "uk2")
    assert e.preferred == "uk2"
    assert not e.fallback
    assert r.eligibility("uk", "us1").preferred is None  # outside the route's pool
    assert r.eligibility("us_one", "us1").preferred is None  # route is not sticky
    assert r.eligibility(None, "us1").fallback is True


class FakeStore:
    def __init__(self, modem: str | None) -> None:
        self.modem = modem
        self.asked: list[bytes] = []

    async def conversation_modem(self, to_hash: bytes) -> str | None:
        self.asked.append(to_hash)
        return self.modem


async def test_resolve_asks_the_store_for_sticky_routes_only() -> None:
    r = Router(ROUTES, MODEMS)
    store: Any = FakeStore("uk1")
    q = QueueItem("m", Priority.NORMAL, 0.0, None, "uk", b"hash", 0)
    e = await r.resolve(q, store)
    assert e.preferred == "uk1"
    assert store.asked == [b"hash"]
    q2 = QueueItem("m", Priority.NORMAL, 0.0, None, "us_one", b"hash2", 0)
    e2 = await r.resolve(q2, store)
    assert e2.preferred is None
    assert store.asked == [b"hash"]
