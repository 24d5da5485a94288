"""Where callbacks may go: the ``[server] callback_hosts`` list and the address rules.

A callback URL chosen per request (Twilio ``StatusCallback``, Kannel ``dlr-url``) or
added through ``POST /v1/webhooks`` must name a host the operator listed, or any
``send`` key could make the gateway call services only it can reach. Entries are host
names (``ehr.clinic.example``), wildcards (``*.clinic.example``: any name below it, not
the name itself), IP addresses or CIDR blocks (``192.168.10.0/24``).

At delivery, every address a host resolves to is checked again, whatever the list
says: link-local (cloud metadata lives there), multicast, unspecified and reserved
addresses are never contacted; loopback and private ones only for trusted hosts
(listed, or named by the configuration file). ``GuardedResolver`` does the check
inside the HTTP client's connector, so the address checked is the address used.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from gateway.config import Network, parse_callback_host

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class CallbackRefused(OSError):
    """A callback host resolved only to addresses the gateway will not contact."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def url_host(url: str) -> str:
    """The host the HTTP client will connect to, read as it reads it ('' if none)."""
    try:
        return URL(url).host or ""
    except (TypeError, ValueError):
        return ""


def _address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


class CallbackHosts:
    """The ``callback_hosts`` entries, matched against a URL's host."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        """``entries`` as ``parse_callback_host`` accepts them; raises ``ValueError`` otherwise."""
        self._names: set[str] = set()
        self._suffixes: list[str] = []
        self._networks: list[Network] = []
        for raw in entries:
            entry = parse_callback_host(raw)
            if not isinstance(entry, str):
                self._networks.append(entry)
            elif entry.startswith("*."):
                self._suffixes.append(entry[1:])  # ".clinic.example"
            else:
                self._names.add(entry)

    def matches_host(self, host: str) -> bool:
        address = _address(host)
        if address is not None:
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            return any(address in net for net in self._networks)
        name = host.lower().rstrip(".")
        return name in self._names or any(name.endswith(s) for s in self._suffixes)

    def matches(self, url: str) -> bool:
        host = url_host(url)
        return bool(host) and self.matches_host(host)


def refusal(address: Address, *, trusted: bool) -> str | None:
    """Why ``address`` must not be contacted, or None when it may be."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local:
        return "link-local address"
    if address.is_multicast:
        return "multicast address"
    if address.is_unspecified:
        return "unspecified address"
    if address.is_reserved:
        return "reserved address"
    if trusted or address.is_global:
        return None
    return "loopback address" if address.is_loopback else "private address"


def literal_refusal(url: str, *, trusted: bool) -> str | None:
    """The check for a URL whose host is an IP address (no resolver is asked for those)."""
    address = _address(url_host(url))
    return None if address is None else refusal(address, trusted=trusted)


class GuardedResolver(AbstractResolver):
    """Resolves with the loop's ``getaddrinfo`` and drops every address ``refusal`` names.

    When nothing is left, raises ``CallbackRefused`` with the first reason, which the
    connector hands back inside its connection error.
    """

    def __init__(self, *, trusted: bool, inner: AbstractResolver | None = None) -> None:
        self.trusted = trusted
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept: list[ResolveResult] = []
        reasons: list[str] = []
        for result in found:
            address = _address(result["host"])
            if address is None:
                reason: str | None = "unparsable address"
            else:
                reason = refusal(address, trusted=self.trusted)
            if reason is None:
                kept.append(result)
            else:
                reasons.append(reason)
        if not kept:
            raise CallbackRefused(reasons[0] if reasons else "no address")
        return kept

    async def close(self) -> None:
        await self._inner.close()
