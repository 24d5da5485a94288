"""Webhooks and the compatibility endpoints, assembled for the daemon.

Lifecycle, in the daemon's order::

    store opened  -> integrations = Integrations(sqlite_store, config.webhooks)
                     await integrations.start()       # schema, subscriptions, dispatcher
                     daemon store = integrations.wrap(sqlite_store)
    HTTP app made -> integrations.add_routes(app)     # before the app starts
    stopping      -> await integrations.stop()        # after the workers, before the store
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from aiohttp import web

from gateway.compat import kannel, twilio
from gateway.config import WebhookConfig
from gateway.http.context import CONTEXT
from gateway.store.base import Scope, Store
from gateway.store.sqlite import SqliteStore
from gateway.webhooks.access import SqliteAccess
from gateway.webhooks.api import WebhookApi
from gateway.webhooks.delivery import DeliveryMetrics, Dispatcher, WebhookSettings
from gateway.webhooks.emitter import Emitter, EventedStore
from gateway.webhooks.hosts import CallbackHosts
from gateway.webhooks.openapi import merged
from gateway.webhooks.outbox import ensure_schema
from gateway.webhooks.subscriptions import Registry


class Integrations:
    def __init__(
        self,
        store: SqliteStore,
        configured: Iterable[WebhookConfig] = (),
        settings: WebhookSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        callback_hosts: CallbackHosts | None = None,
        metrics: DeliveryMetrics | None = None,
    ) -> None:
        self.access = SqliteAccess(store)
        self.registry = Registry(self.access, configured)
        self.hosts = callback_hosts or CallbackHosts()  # default: no per-request callbacks
        self.dispatcher = Dispatcher(
            self.access,
            self.registry,
            settings,
            clock=clock,
            callback_hosts=self.hosts,
            metrics=metrics,
        )
        self.emitter = Emitter(
            self.access,
            self.registry,
            self.dispatcher.notify,
            formatters={"twilio": twilio.incoming_form},
            callbacks={twilio.KIND: twilio.status_callbacks, kannel.KIND: kannel.dlr_callbacks},
            clock=clock,
        )
        self._clock = clock

    async def start(self) -> None:
        await self.access.run_write(ensure_schema)
        await self.registry.load()
        self.dispatcher.start()

    def wrap(self, store: Store) -> Store:
        return EventedStore(store, self.emitter, clock=self._clock)

    def add_routes(self, app: web.Application) -> None:
        """``/v1/webhooks`` (admin), the Twilio and Kannel shapes (their own authentication)."""
        scopes: dict[tuple[str, str], Scope | None] = {}
        for method, path, handler, scope in WebhookApi(
            self.registry, self.access, self.hosts
        ).routes():
            app.router.add_route(method, path, handler)
            scopes[(method, path)] = scope
        for method, path, handler in (
            *twilio.TwilioApi(self.access, self.hosts).routes(),
            *kannel.KannelApi(self.access, self.hosts).routes(),
        ):
            app.router.add_route(method, path, handler)
            scopes[(method, path)] = None  # basic auth / username+password, checked inside
        context = app.get(CONTEXT)
        if context is not None:
            app[CONTEXT] = replace(
                context, scopes={**context.scopes, **scopes}, openapi=merged(context.openapi)
            )

    async def stop(self) -> None:
        await self.dispatcher.stop()
