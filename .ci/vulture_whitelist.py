"""Code vulture cannot see used, because a library calls it by name.

Only such false positives belong here; code that nothing calls is deleted instead.
"""

# ruff: noqa: B018
from drivers.transport import _Protocol
from gateway.config import EventKind
from gateway.http.parser_errors import JsonErrorRequestHandler
from gateway.http.server import _Refused
from gateway.metrics import OpsCollector

# asyncio.Protocol callbacks: the event loop calls them.
_Protocol.data_received
_Protocol.eof_received
_Refused.connection_made

# aiohttp's RequestHandler calls it for a request its parser refused.
JsonErrorRequestHandler.handle_error

# prometheus_client's Collector interface: the registry calls them at each scrape.
OpsCollector.describe
OpsCollector.collect

# Event kinds the store names by value (EventKind("message.failed")), never by member.
EventKind.MESSAGE_FAILED
EventKind.MODEM_DOWN
