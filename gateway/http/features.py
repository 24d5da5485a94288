"""The features ``gateway.http`` itself serves, in the order the app registers them.

Webhooks and the Twilio/Kannel shapes come from their own packages; the composition
root appends them (``gateway.http`` never imports ``gateway.compat``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Protocol

from gateway.config import DEFAULT_CATEGORIES
from gateway.http import (
    audit,
    clock,
    conversations,
    estimate,
    health,
    inbound,
    inbox_page,
    messages,
    modem_actions,
    modems,
    openapi,
    prometheus,
    status_page,
    suppressions,
    templates,
)
from gateway.http.feature import Feature
from gateway.http.modem_actions import ModemActions
from gateway.metrics import Metrics, QueueView, StatusSource


# What a GatewayService alone can serve.
def api_features(categories: Iterable[str] = DEFAULT_CATEGORIES) -> tuple[Feature, ...]:
    """The client API; the send schema names the configured categories."""
    return (
        messages.feature(categories),
        inbound.FEATURE,
        conversations.FEATURE,
        modems.FEATURE,
        audit.FEATURE,
        health.FEATURE,
        openapi.FEATURE,
    )


API_FEATURES: Final = api_features()


class DaemonService(StatusSource, ModemActions, clock.ClockActions, estimate.Estimator, Protocol):
    """The service behind the technician's routes: the status page, /metrics, modem actions."""


def daemon_features(
    service: DaemonService, metrics: Metrics, categories: Iterable[str] = DEFAULT_CATEGORIES
) -> tuple[Feature, ...]:
    """Everything the daemon serves from ``gateway.http``; the page and /metrics share one
    queue view, so a scrape and a page poll within its max age read the store once."""
    queue = QueueView(lambda: service.store)
    return (
        *api_features(categories),
        status_page.feature(service, metrics, queue),
        inbox_page.feature(),
        prometheus.feature(service, metrics, queue),
        modem_actions.feature(service),
        suppressions.feature(metrics, categories),
        clock.feature(service),
        templates.feature(categories),
        estimate.feature(service),
    )
