"""A paused broadcast's messages are held before their first segment by what the desk
knows in memory: after a restart too, and until the resume hands them back."""

from __future__ import annotations

import time
from collections.abc import Sequence

from gateway.config import RetryConfig
from gateway.core.broadcasts import BROADCAST_KEY, Broadcasts
from gateway.core.policy import RetryPolicy
from gateway.core.routing import Router
from gateway.core.scheduler import Scheduler
from gateway.core.service import SendRequest
from gateway.fleet.dispatch import Dispatcher
from gateway.store.base import (
    BroadcastState,
    Expansion,
    Message,
    NewMessage,
    Priority,
    QueueItem,
)
from gateway.store.sqlite import SqliteStore

from .conftest import new_message
from .test_store_broadcasts import opened, row


def not_expanding(request: SendRequest) -> NewMessage:
    raise AssertionError(f"nothing is expanded here ({request.category})")


async def none_blocked(new: Sequence[NewMessage]) -> list[bool]:
    return [False] * len(new)


async def loaded(store: SqliteStore, message_id: str) -> Message:
    message = await store.get_message(message_id)
    assert message is not None
    return message


async def test_a_desk_started_after_a_pause_holds_its_messages_until_the_resume(
    store: SqliteStore,
) -> None:
    bid = await opened(store, [row(1, "+15550001111")])
    made = new_message(priority=Priority.BULK, metadata={BROADCAST_KEY: bid})
    await store.broadcasts.expand(bid, [Expansion(1, made)], actor="key_a", action="x")
    await store.broadcasts.set_state(
        bid, BroadcastState.PAUSED, owner=None, actor="key_a", action="broadcast.pause"
    )
    # Not one of its messages, though its metadata names the broadcast.
    [named] = await store.add_messages([new_message(metadata={BROADCAST_KEY: bid})])
    # As after a restart: a new desk and queue, the broadcast paused in the store.
    dispatcher = Dispatcher(
        store, Scheduler(clock=time.time), Router((), ()), RetryPolicy(RetryConfig())
    )
    desk = Broadcasts(
        lambda: store.broadcasts,
        prepare=not_expanding,
        blocked=none_blocked,
        queue=lambda: dispatcher,
        categories=frozenset({"reminder"}),
        opted_out=("opted_out", "opted out"),
    )
    [item] = await store.broadcasts.queued_messages(bid)
    assert item.id == made.id
    assert not desk.holds(item, await loaded(store, made.id))  # nothing known yet
    await desk.load_paused()
    assert desk.holds(item, await loaded(store, made.id))
    named_item = QueueItem(named.message.id, Priority.NORMAL, time.time(), None, None, b"", 0)
    assert desk.holds(named_item, named.message)
    [odd] = await store.add_messages([new_message(metadata={BROADCAST_KEY: ["a", "list"]})])
    assert not desk.holds(named_item, odd.message)
    assert made.id not in dispatcher.scheduler

    await desk.resume(bid, owner=None, actor="key_a")
    assert made.id in dispatcher.scheduler
    assert named.message.id in dispatcher.scheduler  # handed back, not stranded
    assert not desk.holds(item, await loaded(store, made.id))
