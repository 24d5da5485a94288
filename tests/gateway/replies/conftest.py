"""The in-process daemon with HTTP and simulated modems, as the integration tests run it."""

from tests.gateway.integrations.conftest import make_gateway, subscriber

__all__ = ["make_gateway", "subscriber"]
