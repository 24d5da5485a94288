"""The next message is prepared while one is in the air, and claimed with its `sent`."""

from __future__ import annotations

from gateway.core.service import SendRequest
from gateway.store.base import MessageState, Priority
from gateway.store.sqlite import SqliteStore
from tests.gateway.runtime.conftest import RigFactory, poll_until

GONE = (MessageState.SENT, MessageState.DELIVERED)  # the simulator reports at once
NUMBERS = [f"+1555777{n:04d}" for n in range(20)]


async def test_a_sent_and_the_next_sending_share_one_commit(make_rig: RigFactory) -> None:
    """Before: two transactions (two fsyncs when durable) per message, `sending` and
    `sent`; now one per message: its `sent` with the next one's `sending`."""
    rig = await make_rig()
    store = rig.daemon.store
    assert isinstance(store, SqliteStore)
    before = store.commit_count
    results = await rig.daemon.gateway.submit(
        [SendRequest(to=n, body="one commit per send", request_report=False) for n in NUMBERS],
        None,
    )
    for result in results:
        await rig.wait_state(result.message.id, MessageState.SENT)
    commits = store.commit_count - before
    # the intake, the first message's `sending`, then one per message; two spare
    assert commits <= len(NUMBERS) + 4, commits


async def test_a_message_taken_ahead_then_cancelled_is_not_sent(make_rig: RigFactory) -> None:
    rig = await make_rig(radio_time=0.6)  # within the driver's 0.8 s wait for +CMGS
    sim = rig.sims["alpha"]
    first = await rig.send(NUMBERS[0], "in the air")
    second = await rig.send(NUMBERS[1], "taken ahead, then cancelled")
    await sim.wait_sent(1, 5.0)  # the first is in the air: the second is taken ahead
    await rig.daemon.gateway.cancel(second.id)
    await rig.wait_state(first.id, *GONE)
    third = await rig.send(NUMBERS[2], "after the cancelled one")
    await rig.wait_state(third.id, *GONE)
    assert (await rig.message(second.id)).state is MessageState.CANCELLED
    assert NUMBERS[1] not in {s.submit.recipient for s in sim.sent}


async def test_a_message_taken_ahead_is_sent_after_a_failed_one(make_rig: RigFactory) -> None:
    rig = await make_rig(radio_time=0.1)
    sim = rig.sims["alpha"]
    sim.fail_sends(1)  # unassigned number: the first fails for good
    first = await rig.send(NUMBERS[0], "fails")
    second = await rig.send(NUMBERS[1], "taken ahead while the first failed")
    await rig.wait_state(first.id, MessageState.FAILED)
    await rig.wait_state(second.id, *GONE)
    assert [s.submit.recipient for s in sim.sent] == [NUMBERS[1]]


async def test_a_full_queue_is_sent_in_order_once_each(make_rig: RigFactory) -> None:
    rig = await make_rig()
    sim = rig.sims["alpha"]
    results = await rig.daemon.gateway.submit(
        [SendRequest(to=n, body="in order", request_report=False) for n in NUMBERS], None
    )

    async def all_sent() -> bool:
        return len(sim.sent) >= len(NUMBERS)

    await poll_until(all_sent, "every message sent")
    assert [s.submit.recipient for s in sim.sent] == NUMBERS
    for result in results:
        assert (await rig.message(result.message.id)).state is MessageState.SENT


async def test_an_urgent_message_goes_before_one_taken_ahead(make_rig: RigFactory) -> None:
    """A message taken ahead while one is in the air does not make a newer urgent one
    wait a second segment: the urgent one goes next."""
    rig = await make_rig(radio_time=0.6)  # within the driver's 0.8 s wait for +CMGS
    sim = rig.sims["alpha"]
    dispatcher = rig.daemon.dispatcher
    assert dispatcher is not None
    first = await rig.send(NUMBERS[0], "in the air", priority=Priority.BULK)
    second = await rig.send(NUMBERS[1], "taken ahead", priority=Priority.BULK)

    async def in_the_air_and_taken_ahead() -> bool:
        # the simulator records a PDU as it takes it, and answers after its radio time
        return len(sim.sent) == 1 and second.id not in dispatcher.scheduler

    await poll_until(in_the_air_and_taken_ahead, "the first in the air, the second taken ahead")
    urgent = await rig.send(NUMBERS[2], "urgent", priority=Priority.URGENT)
    for message in (first, second, urgent):
        await rig.wait_state(message.id, *GONE)
    assert [s.submit.recipient for s in sim.sent] == [NUMBERS[0], NUMBERS[2], NUMBERS[1]]
