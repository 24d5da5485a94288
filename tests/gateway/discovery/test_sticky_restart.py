"""Sticky replies through a glob family's device survive a restart: the queue is rebuilt
before the devices are found, and the patient's modem must still be preferred once it is."""

from __future__ import annotations

import time

from gateway.config import RouteConfig
from gateway.crypto import KeyRing
from gateway.store.base import Message, MessageState
from gateway.store.sqlite import SqliteStore
from tests.gateway.discovery.conftest import Bench
from tests.gateway.discovery.test_daemon_discovery import SETTLE, sender, usable
from tests.gateway.runtime.conftest import poll_until
from tests.gateway.store.conftest import new_message

PATIENT = "+15550001234"
REPLIES = 6  # each would go to either device without the sticky preference
BOTH_BACK_WITHIN = 4.0  # seconds from the restart to both devices ready, with room
ROUTES = (RouteConfig(name="care", tags=("care",), sticky=True, fallback=True),)


async def test_sticky_replies_for_a_family_device_survive_a_restart(bench: Bench) -> None:
    await bench.plug("AAA111")
    patient_side = await bench.plug("BBB222")
    family = bench.family(tags=("care",))
    daemon = await bench.daemon([family], ROUTES)
    await usable(daemon, "sticks-bbb222")
    patient_side.deliver(PATIENT, "Can I come at 3 instead?")
    to_hash = daemon.store.number_hash(PATIENT)

    async def conversation() -> bool:
        return await daemon.store.conversation_modem(to_hash) == "sticks-bbb222"

    await poll_until(conversation, "the conversation recorded", SETTLE)
    await daemon.stop()

    # Replies accepted just before the stop, still queued when the daemon starts again.
    # They fall due once both devices are back: with both ready, only the sticky
    # preference sends them all to the patient's side (which one comes up first is
    # the machine's business, and a modem not yet ready is passed over by design).
    data = bench.root / "data"
    store = SqliteStore(data / "smsgw.db", KeyRing.load(data / "smsgw.key"))
    due = time.time() + BOTH_BACK_WITHIN
    await store.open()
    try:
        results = await store.add_messages(
            [new_message(to=PATIENT, route="care", send_at=due) for _ in range(REPLIES)]
        )
    finally:
        await store.close()

    again = await bench.daemon([family], ROUTES)
    await usable(again, "sticks-aaa111")
    await usable(again, "sticks-bbb222")
    assert time.time() < due, f"the devices took over {BOTH_BACK_WITHIN} s to come back"

    async def all_sent() -> list[Message] | None:
        found = [await again.store.get_message(r.message.id) for r in results]
        done = [m for m in found if m is not None and m.state is not MessageState.QUEUED]
        sending = any(m.state is MessageState.SENDING for m in done)
        return done if len(done) == REPLIES and not sending else None

    sent = await poll_until(all_sent, "the replies sent", SETTLE)
    assert [sender(m) for m in sent] == ["sticks-bbb222"] * REPLIES
    assert sent[0].route == "care"
