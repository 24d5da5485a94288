"""Webhooks and the compatibility endpoints, assembled for the daemon (which owns this
wiring, so that webhooks never import compat: compat builds on webhooks).

Lifecycle, in the daemon's order::

    before the store -> integrations = Integrations(config.webhooks, settings, hosts)
                        store = create_store(cfg, keyring, fanout=integrations.fanout,
                                             on_outbox=integrations.dispatcher.notify)
    store opened     -> await integrations.start(store)   # subscriptions, delivery task
    HTTP app made    -> make_app(..., [..., *integrations.features()])
    stopping         -> await integrations.stop()         # after the workers, before the store
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from gateway.compat import kannel, twilio
from gateway.config import WebhookConfig
from gateway.core.clock_guard import ClockGuard
from gateway.errors import StoreError
from gateway.http.feature import Feature
from gateway.store.base import Store
from gateway.webhooks.api import WebhookApi
from gateway.webhooks.delivery import DeliveryMetrics, WebhookDelivery, WebhookSettings
from gateway.webhooks.emitter import EventFanout
from gateway.webhooks.hosts import CallbackHosts
from gateway.webhooks.subscriptions import Registry


class Integrations:
    def __init__(
        self,
        configured: Iterable[WebhookConfig] = (),
        settings: WebhookSettings | None = None,
        *,
        callback_hosts: CallbackHosts | None = None,
        metrics: DeliveryMetrics | None = None,
        clock_guard: ClockGuard | None = None,
        own_number: Callable[[str], str | None] = lambda _modem: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``own_number``: a modem's SIM number by modem name (Twilio's inbound ``To``)."""
        self.registry = Registry(configured)
        self.hosts = callback_hosts or CallbackHosts()  # default: no per-request callbacks
        self.dispatcher = WebhookDelivery(
            self.registry,
            settings,
            callback_hosts=self.hosts,
            metrics=metrics,
            clock_guard=clock_guard,
            clock=clock,  # the daemon's: purge cutoffs and next attempts on its clock
        )
        # What the store writes to the outbox, in the transaction of each change.
        self.fanout = EventFanout(
            self.registry,
            formatters={"twilio": twilio.incoming_formatter(own_number)},
            callbacks={twilio.KIND: twilio.status_callbacks, kannel.KIND: kannel.dlr_callbacks},
        )
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            raise StoreError("the webhook integration has not started")
        return self._store

    async def start(self, store: Store) -> None:
        """``store`` must have been made with :attr:`fanout` and the dispatcher's notify."""
        await self.registry.load(store)
        self._store = store
        self.dispatcher.start(store)

    def features(self) -> tuple[Feature, ...]:
        """``/v1/webhooks`` (admin), the Twilio and Kannel shapes (their own authentication)."""
        return (
            WebhookApi(self.registry, self.store, self.hosts).feature(),
            twilio.TwilioApi(self.store, self.hosts).feature(),
            kannel.KannelApi(self.store, self.hosts).feature(),
        )

    async def stop(self) -> None:
        await self.dispatcher.stop()
