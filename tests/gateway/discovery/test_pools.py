"""Routes and the queue when a modem joins at run time: pools grow, place in line is kept."""

from __future__ import annotations

from gateway.config import ModemConfig, RouteConfig
from gateway.core.routing import Router
from gateway.core.scheduler import Scheduler
from gateway.fleet.discovery import member_config
from gateway.store.base import Priority, QueueItem

FAMILY = ModemConfig(name="sticks", port="/dev/serial/by-id/usb-Sim_*", tags=("bulk",))
MAIN = ModemConfig(name="main", port="/dev/main", tags=("care", "bulk"))
ROUTES = (
    RouteConfig(name="care", prefixes=("+1555",), tags=("care",), sticky=False, fallback=False),
    RouteConfig(name="bulk", prefixes=("+1444",), tags=("bulk",), sticky=False, fallback=False),
    RouteConfig(name="only", prefixes=("+1333",), tags=("bulk",), sticky=False, fallback=False),
)
MEMBER = member_config(FAMILY, "/dev/serial/by-id/usb-Sim_Modem_S1-if02-port0")


def item(message_id: str, route: str | None) -> QueueItem:
    return QueueItem(message_id, Priority.NORMAL, 0.0, None, route, b"h", 0)


def test_a_family_is_no_pool_member_and_an_empty_pool_is_not_every_modem() -> None:
    only_family = Router(ROUTES, (FAMILY,))
    assert only_family.pool(None) == frozenset()
    s = Scheduler(clock=lambda: 1.0)
    s.set_ready("other", True)
    s.add(item("m", "bulk"), only_family.eligibility("bulk"))
    assert s.take("other") is None  # a route whose devices are not there yet waits
    only_family.add_modem(MEMBER)
    assert only_family.pool("bulk") == {MEMBER.name}


async def test_a_joining_modem_widens_only_the_pools_of_its_routes() -> None:
    router = Router(ROUTES, (FAMILY, MAIN))
    assert router.pool("care") == router.pool("bulk") == {"main"}  # same pool, two routes
    s = Scheduler(clock=lambda: 1.0)
    s.add(item("bulk1", "bulk"), router.eligibility("bulk"))
    s.add(item("care1", "care"), router.eligibility("care"))
    s.add(item("any1", None), router.eligibility(None))
    s.add(item("bulk2", "bulk"), router.eligibility("bulk").excluding("main"))
    router.add_modem(MEMBER)
    assert s.regroup(router.widen) == 3
    assert router.pool("bulk") == {"main", MEMBER.name}
    assert router.pool("care") == {"main"}
    s.set_ready(MEMBER.name, True)
    taken = [s.take(MEMBER.name) for _ in range(4)]
    assert [t.id if t else None for t in taken] == ["bulk1", "any1", "bulk2", None]
    elig = s.eligibility("care1")
    assert elig is not None
    assert elig.modems == {"main"}
    assert s.regroup(router.widen) == 0  # idempotent
