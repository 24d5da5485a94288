"""``GET /metrics`` for Prometheus, and the middleware that counts every request.

Open like ``/healthz``: it carries no PHI, and Prometheus scrapes without a key.
Not part of the JSON API, so not in the OpenAPI document.
"""

from __future__ import annotations

from gateway.http.feature import Feature, Route
from gateway.metrics import (
    Metrics,
    MetricsEndpoint,
    QueueView,
    StatusSource,
    http_metrics_middleware,
)

PATH = "/metrics"


def feature(service: StatusSource, metrics: Metrics, queue: QueueView) -> Feature:
    """The middleware goes outermost, so the statuses it counts are the ones clients see."""
    endpoint = MetricsEndpoint(service, metrics, queue)
    return Feature(
        "prometheus",
        routes=(Route("GET", PATH, endpoint.handle, None, head=True, documented=False),),
        middlewares=(http_metrics_middleware(metrics),),
    )
