"""Modem events: inbound (dedupe, reassembly, sticky replies), reports, state, resilience."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from drivers.errors import CmsError
from drivers.pdu import decode, encode_deliver
from drivers.types import (
    Health,
    InboundMessage,
    ModemState,
    NetworkChanged,
    Registration,
    StateChanged,
    StoredLocation,
)
from gateway.config import ModemConfig, RateConfig
from gateway.core.ratelimit import RateLimiter
from gateway.fleet.handle import ModemHandle
from gateway.fleet.modem_events import ModemEvents, dedupe_key
from gateway.store.base import Inbound, InboundPart, InboundResult, MessageState
from tests.gateway.runtime.conftest import SETTLE, RigFactory, poll_until

SENDER = "+15557650000"


async def inbound_items(rig: Any) -> list[Inbound]:
    page = await rig.daemon.store.list_inbound(sender=None, modem=None, cursor=None, limit=20)
    return list(page.items)


async def test_the_same_pdu_again_in_a_freed_slot_is_another_text(make_rig: RigFactory) -> None:
    """A patient who sends "twice" twice in one second sent two texts."""
    rig = await make_rig()
    sim = rig.sims["alpha"]
    [pdu] = encode_deliver(SENDER, "twice", timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    start = len(sim.commands)
    sim.deliver_pdu(pdu)
    await sim.wait_command("AT+CMGD", timeout=SETTLE, start=start)
    second = len(sim.commands)
    sim.deliver_pdu(pdu)
    await sim.wait_command("AT+CMGD", timeout=SETTLE, start=second)

    async def both() -> bool:
        return len(await inbound_items(rig)) == 2

    await poll_until(both, "two texts")


async def test_parts_missing_are_released_after_the_timeout(make_rig: RigFactory) -> None:
    rig = await make_rig(reassembly_timeout=0.2)
    sim = rig.sims["alpha"]
    text = "This reply is long enough to need three parts when it is sent as SMS. " * 6
    parts = encode_deliver(SENDER, text, timestamp=datetime.now(UTC), reference=77)
    assert len(parts) == 3
    sim.deliver_pdu(parts[0])
    sim.deliver_pdu(parts[2])

    async def released() -> list[Inbound]:
        return await inbound_items(rig)

    [inbound] = await poll_until(released, "the incomplete text released")
    assert inbound.complete is False
    assert inbound.sender == SENDER


async def test_reply_goes_out_on_the_modem_the_patient_wrote_to(make_rig: RigFactory) -> None:
    rig = await make_rig((("alpha", "quectel"), ("bravo", "simcom")))
    rig.sims["bravo"].deliver(SENDER, "Can I move my appointment?")
    await poll_until(lambda: inbound_items(rig), "the patient's text")
    replies = [await rig.send(SENDER, f"Sure, reply {i}") for i in range(4)]
    for reply in replies:
        done = await rig.wait_state(reply.id, MessageState.SENT, MessageState.DELIVERED)
        assert done.modem == "bravo"
    assert rig.sims["alpha"].sent == []


async def test_a_delivery_report_for_a_failed_delivery_fails_the_message(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig()
    rig.sims["alpha"].set_report_status("+15551239999", 0x41)  # incompatible destination
    m = await rig.send("+15551239999", "will bounce")
    failed = await rig.wait_state(m.id, MessageState.FAILED)
    assert failed.segments[0].report_status == 0x41


# -- the consumer alone, with stand-ins -------------------------------------------


class FakeModem:
    def __init__(self) -> None:
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        self.state = ModemState.READY
        self.identity = None
        self.deleted: list[StoredLocation] = []

    async def delete(self, location: StoredLocation) -> bool:
        if location.index == 13:
            raise CmsError("AT+CMGD", 500)
        self.deleted.append(location)
        return True


class FakeStore:
    def __init__(self) -> None:
        self.parts: list[InboundPart] = []
        self.events: list[tuple[str, str | None, dict[str, Any]]] = []
        self.released: list[str] = []
        self.fail_next = False

    async def add_inbound(self, part: InboundPart) -> InboundResult:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("disk on fire")
        self.parts.append(part)
        return InboundResult(inbound=None, duplicate=False)

    async def add_event(self, kind: str, modem: str | None, detail: dict[str, Any]) -> None:
        self.events.append((kind, modem, detail))

    async def release_inbound(self, dedupe_key: str) -> None:
        self.released.append(dedupe_key)


def consumer() -> tuple[ModemEvents, FakeModem, FakeStore, list[str]]:
    modem, store = FakeModem(), FakeStore()
    handle = ModemHandle(
        config=ModemConfig(name="m1", port="/dev/x"),
        modem=modem,  # type: ignore[arg-type]
        port="/dev/x",
        limiter=RateLimiter(RateConfig(per_minute=0)),
    )
    changes: list[str] = []

    def on_state(event: StateChanged) -> None:  # as the modem's supervisor records it
        handle.state, handle.reason = event.state, event.reason
        changes.append(event.state.value)

    events = ModemEvents(
        handle,
        store,  # type: ignore[arg-type]
        on_state=on_state,
    )
    return events, modem, store, changes


def inbound_event(index: int) -> InboundMessage:
    [pdu] = encode_deliver(SENDER, f"n{index}", timestamp=datetime(2026, 1, 1, tzinfo=UTC))
    deliver = decode(pdu)
    assert deliver.kind == "deliver"
    return InboundMessage(pdu_hex=pdu, deliver=deliver, location=StoredLocation("SM", index))


async def test_a_failing_event_does_not_stop_the_consumer() -> None:
    events, modem, store, _ = consumer()
    store.fail_next = True
    for index in (1, 13, 2):
        modem.events.put_nowait(inbound_event(index))
    task = asyncio.create_task(events.run())
    try:
        await poll_until(lambda: _true(events.handled == 3), "three events handled")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # 1: the store failed, so it stays on the modem; 13: the delete failed; 2: fine.
    assert [p.text for p in store.parts] == ["n13", "n2"]
    assert modem.deleted == [StoredLocation("SM", 2)]
    assert store.parts[1].dedupe_key == dedupe_key(
        "m1", inbound_event(2).pdu_hex, StoredLocation("SM", 2)
    )
    assert store.released == [store.parts[1].dedupe_key]  # freed on the modem: key released


async def test_state_and_network_changes_are_recorded() -> None:
    events, _, store, changes = consumer()
    handle = events.handle
    await events.handle_event(StateChanged(ModemState.DOWN, "unplugged"))
    await events.handle_event(StateChanged(ModemState.READY, "initialised"))
    assert changes == ["down", "ready"]
    assert [e[0] for e in store.events] == ["modem.down", "modem.up"]
    handle.health = Health(-70, 21, Registration.HOME, "lte", "Op", "ready", 0, 30)
    await events.handle_event(NetworkChanged(Registration.ROAMING, -105))
    assert handle.health.registration is Registration.ROAMING
    assert handle.health.signal_dbm == -105
    assert store.events[-1] == ("modem.network", "m1", {"registration": "roaming"})
    status = handle.status()
    assert status.state == "degraded"
    assert status.reason == "roaming"


async def _true(value: bool) -> bool:
    return value
