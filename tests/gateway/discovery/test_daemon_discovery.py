"""A real daemon watching a by-id glob: devices that appear, vanish and come back
keep one stable modem name each; routes by tag reach the devices found later."""

from __future__ import annotations

from gateway.config import RouteConfig
from gateway.core.service import SendRequest
from gateway.daemon import Daemon
from gateway.fleet.identity import IDENTITY_MISMATCH, IDENTITY_MISMATCH_EVENT
from gateway.store.base import EventLogEntry, Message, MessageState
from tests.gateway.discovery.conftest import Bench
from tests.gateway.runtime.conftest import poll_until

SETTLE = 8.0  # seconds: deadline for anything the daemon should do promptly
BULK_NUMBER = "+14445550100"  # routed to the family by tag, never to the desk modem
DESK = "desk"
IMEI_A = "350000000000011"
IMEI_B = "350000000000022"

ROUTES = (
    RouteConfig(name="bulk", prefixes=("+1444",), tags=("bulk",), sticky=False, fallback=False),
    RouteConfig(name="care", tags=("care",)),
)


async def send(daemon: Daemon, to: str = BULK_NUMBER) -> str:
    [result] = await daemon.gateway.submit([SendRequest(to=to, body="discovery")], None)
    return result.message.id


async def sent(daemon: Daemon, message_id: str) -> Message:
    async def check() -> Message | None:
        m = await daemon.store.get_message(message_id)
        assert m is not None
        return m if m.state in (MessageState.SENT, MessageState.DELIVERED) else None

    found: Message = await poll_until(check, f"{message_id} sent", SETTLE)
    return found


def sender(message: Message) -> str | None:
    [segment] = message.segments
    return segment.modem


async def usable(daemon: Daemon, name: str, wanted: bool = True) -> None:
    async def check() -> bool:
        handle = daemon.handles.get(name)
        return handle is not None and handle.usable() is wanted

    await poll_until(check, f"modem {name} usable={wanted}", SETTLE)


def segments_sent(daemon: Daemon, name: str) -> float | None:
    return daemon.metrics.registry.get_sample_value("smsgw_segments_sent_total", {"modem": name})


async def test_devices_join_by_glob_and_keep_their_names_across_replugs(bench: Bench) -> None:
    desk = await bench.plain(DESK)
    first = await bench.plug("AAA111")
    daemon = await bench.daemon(
        [bench.plain_config(DESK, tags=("care",)), bench.family(tags=("bulk",))], ROUTES
    )
    assert set(daemon.handles) == {DESK, "sticks-aaa111"}  # named from the by-id link
    assert segments_sent(daemon, "sticks") is None  # the family itself is no modem
    await usable(daemon, "sticks-aaa111")
    m1 = await sent(daemon, await send(daemon))
    assert sender(m1) == "sticks-aaa111"

    # Unplugged: the route's only device is gone and fallback is off, so the message waits.
    await first.vanish()
    await usable(daemon, "sticks-aaa111", wanted=False)
    waiting = await send(daemon)
    message = await daemon.store.get_message(waiting)
    assert message is not None
    assert message.state is MessageState.QUEUED

    # A second stick appears: discovered, ready, and the waiting message's route now has it.
    second = await bench.plug("BBB222")
    await usable(daemon, "sticks-bbb222")
    m2 = await sent(daemon, waiting)
    assert sender(m2) == "sticks-bbb222"
    assert segments_sent(daemon, "sticks-bbb222") == 1.0

    # The first stick comes back under its old path: the same modem, not a new one.
    await first.reappear()
    await usable(daemon, "sticks-aaa111")
    await second.vanish()
    await usable(daemon, "sticks-bbb222", wanted=False)
    m3 = await sent(daemon, await send(daemon))
    assert sender(m3) == "sticks-aaa111"

    names = sorted(s.name for s in daemon.gateway.modems())
    assert names == [DESK, "sticks-aaa111", "sticks-bbb222"]
    assert segments_sent(daemon, "sticks-aaa111") == 2.0
    assert segments_sent(daemon, DESK) == 0.0
    assert desk.sent == []  # fallback off: the desk modem never took the family's messages
    history = [await daemon.store.get_message(m.id) for m in (m1, m2, m3)]
    assert [sender(m) for m in history if m is not None] == [
        "sticks-aaa111",
        "sticks-bbb222",
        "sticks-aaa111",
    ]


async def test_a_restart_finds_the_same_names(bench: Bench) -> None:
    await bench.plug("AAA111")
    await bench.plug("BBB222")
    daemon = await bench.daemon([bench.family(tags=("bulk",))])
    names = set(daemon.handles)
    assert names == {"sticks-aaa111", "sticks-bbb222"}
    await daemon.stop()
    again = await bench.daemon([bench.family(tags=("bulk",))])
    assert set(again.handles) == names


async def events(daemon: Daemon, kind: str) -> list[EventLogEntry]:
    page = await daemon.store.list_events(cursor=None, limit=100)
    return [e for e in page.items if e.kind == kind]


async def test_another_imei_is_reported_and_kept_out_of_rotation(bench: Bench) -> None:
    await bench.plug("AAA111", imei=IMEI_A)
    await bench.plug("BBB222", imei=IMEI_B)
    await bench.plain(DESK, imei=IMEI_B)
    daemon = await bench.daemon(
        [bench.family(tags=("bulk",), imei=IMEI_A), bench.plain_config(DESK, imei=IMEI_A)]
    )
    await usable(daemon, "sticks-aaa111")

    async def reported() -> list[EventLogEntry]:
        found = await events(daemon, IDENTITY_MISMATCH_EVENT)
        return found if len(found) == 2 else []

    found = await poll_until(reported, "two identity mismatches recorded", SETTLE)
    assert {e.modem for e in found} == {"sticks-bbb222", DESK}
    assert all(e.detail["expected_imei"] == IMEI_A for e in found)
    assert all(e.detail["found_imei"] == IMEI_B for e in found)
    status = {s.name: s for s in daemon.gateway.modems()}
    for name in ("sticks-bbb222", DESK):
        assert status[name].state == "down"
        assert status[name].reason == IDENTITY_MISMATCH
        assert not daemon.handles[name].usable()
    assert status["sticks-aaa111"].state == "ready"
    # Only the configured device sends, whatever the route would allow.
    for _ in range(3):
        assert sender(await sent(daemon, await send(daemon, "+15550000001"))) == "sticks-aaa111"
