"""The send queue loaded from the store at start, in the background and in pieces.

A million queued messages take seconds to read and route; the API listens, serves
reads and accepts sends meanwhile, and ``/readyz`` says the queue is loading. The
scheduler serves nothing until the load is in (``Scheduler.begin_loading``), so no
message is sent while older ones are still unread, and one accepted meanwhile joins
behind the loaded ones.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from gateway.errors import GatewayError
from gateway.fleet.dispatch import Dispatcher
from gateway.store.base import Store

log = logging.getLogger(__name__)

LOAD_CHUNK: Final = 2_000  # queued messages read and routed per step (the loop runs between)


async def load_queue(store: Store, dispatcher: Dispatcher, *, chunk: int = LOAD_CHUNK) -> None:
    """Hand every queued message to the dispatcher, in id order.

    The scheduler must be loading (``begin_loading``) before the API takes sends, so
    that one accepted before its piece is read waits aside rather than jumping the line.
    """
    scheduler = dispatcher.scheduler
    began = time.monotonic()
    after = ""
    loaded = held_back = 0
    try:
        held = await store.broadcasts.held()  # a paused broadcast's wait for its resume
        while True:
            items = await store.queued_page(after, chunk)
            if not items:
                break
            after = items[-1].id
            scheduler.loaded_through(after)
            free = [item for item in items if item.id not in held]
            held_back += len(items) - len(free)
            await dispatcher.enqueue_many(free)
            loaded += len(free)
    except GatewayError as exc:
        # Readiness keeps saying the queue is loading: nothing is sent from a half queue.
        log.error("loading the queue stopped after %d message(s): %s", loaded, exc.code)
        return
    scheduler.end_loading()
    log.info(
        "queue rebuilt: %d message(s), %d held, in %.1f s",
        loaded,
        held_back,
        time.monotonic() - began,
    )
