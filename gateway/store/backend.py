"""The one place a store backend is chosen: callers get the :class:`Store` protocol.

Only SQLite exists today; the composition root and the CLI ask here, so a second
backend is chosen by configuration without their knowing its class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.crypto import KeyRing
from gateway.store.base import ConsentRule, Fanout, ReplyRule, Store
from gateway.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from gateway.config import StoreConfig


def create_store(
    cfg: StoreConfig,
    keyring: KeyRing,
    *,
    fanout: Fanout | None = None,
    on_outbox: Callable[[], None] | None = None,
    consent: ConsentRule | None = None,
    replies: ReplyRule | None = None,
) -> Store:
    """A store for ``cfg``, not yet opened. ``fanout`` and ``on_outbox``: see
    :class:`~gateway.store.base.Fanout` (without one, no change writes outbox rows);
    ``consent``: see :data:`~gateway.store.base.ConsentRule` (without one, no inbound
    text changes the opt-out list); ``replies``: see :data:`~gateway.store.base.ReplyRule`
    (without one, no text is matched to a message's expected replies)."""
    return SqliteStore(
        cfg.database,
        keyring,
        durable=cfg.durable,
        fanout=fanout,
        on_outbox=on_outbox,
        consent=consent,
        replies=replies,
    )
