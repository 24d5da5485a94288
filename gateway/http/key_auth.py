"""One authentication for every shape of the API: bearer (/v1), Twilio and Kannel.

Each shape reads its token its own way and words its refusals its own way; what a
token must pass is the same: the source address not throttled for failed attempts,
the key known, unrevoked and unexpired, the address inside the key's networks, and
the key's request rate not spent.
"""

from __future__ import annotations

import ipaddress
import time
from datetime import UTC, datetime
from functools import lru_cache

from gateway.core.auth_failures import AuthFailures
from gateway.core.request_rate import RequestRate
from gateway.errors import KeyExpired, NetworkNotAllowed, Unauthorized
from gateway.store.base import ApiKey, Store

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class KeyGuard:
    """The per-address failure counts and per-key request rates of one API listener."""

    def __init__(self, failed_auth_limit: int, failed_auth_window: float) -> None:
        self.failures = AuthFailures(failed_auth_limit, failed_auth_window)
        self.rate = RequestRate()

    async def authenticate(
        self, store: Store, token: str, address: str | None, *, key_id: str | None = None
    ) -> ApiKey:
        """The key ``token`` names, if it may make this request now. ``key_id``: the id
        the client claimed beside the token (Twilio's AccountSid, Kannel's username).

        Raises AuthThrottled, Unauthorized (KeyExpired), NetworkNotAllowed, RateLimited."""
        source = address or "unknown"
        self.failures.check(source)
        key = await store.verify_api_key(token)
        if key is None or (key_id is not None and key.id != key_id):
            # A token that is no key's: what guessing looks like, so it counts. A revoked
            # or expired key's own token does not: a client left on an old key must not
            # lock out every other client on its host.
            self.failures.failed(source)
            raise Unauthorized("unknown or revoked API key")
        if key.revoked_at is not None:
            raise Unauthorized("unknown or revoked API key")
        limits = key.limits
        if limits.expires_at is not None and time.time() >= limits.expires_at:
            expired = datetime.fromtimestamp(limits.expires_at, UTC).isoformat()
            raise KeyExpired(f"this API key expired at {expired}")
        if limits.networks and not in_networks(address, limits.networks):
            raise NetworkNotAllowed("this API key may not be used from this address")
        store.key_used(key.id)
        if limits.requests_per_minute is not None:
            self.rate.take(key.id, limits.requests_per_minute)
        return key


def in_networks(address: str | None, networks: tuple[str, ...]) -> bool:
    """Whether ``address`` (a peer address as the socket gives it) is inside one of
    ``networks``; an IPv4 client seen on an IPv6 socket counts as itself."""
    if address is None:
        return False
    try:
        ip = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _parsed(networks))


@lru_cache(maxsize=256)
def _parsed(networks: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(network, strict=False) for network in networks)
