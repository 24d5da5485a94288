"""The ``--rate``, ``--daily``, ``--expires`` and ``--networks`` options of ``smsgw keys``.

``create`` starts from no limits; ``set`` starts from the key's own, so an option
left out keeps its value and ``none`` (``never``, ``any``) lifts one.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Final

from gateway.errors import ValidationError
from gateway.store.base import KeyLimits

CLEAR: Final = frozenset({"none", "never", "any", "unlimited"})
_DURATION: Final = re.compile(r"(\d+)([mhdw])")
_UNIT_SECONDS: Final = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rate", metavar="N", help="requests a minute the key may make (none: unlimited)"
    )
    p.add_argument(
        "--daily",
        metavar="N",
        help="messages the key may send in any 24 hours (none: unlimited)",
    )
    p.add_argument(
        "--expires",
        metavar="WHEN",
        help="when the key stops working: a UTC date or time (2027-01-31, "
        "2027-01-31T18:00), or a time from now (90d, 12h, 2w); never: no expiry",
    )
    p.add_argument(
        "--networks",
        metavar="CIDRS",
        help="comma-separated networks requests may come from (10.0.0.0/8,192.168.1.20); "
        "any: no restriction",
    )


def given(args: argparse.Namespace) -> bool:
    return any(getattr(args, name) is not None for name in ("rate", "daily", "expires", "networks"))


def apply(args: argparse.Namespace, base: KeyLimits, now: float | None = None) -> KeyLimits:
    """``base`` with the options given on the command line applied."""
    limits = base
    if args.rate is not None:
        limits = replace(limits, requests_per_minute=_count(args.rate, "--rate"))
    if args.daily is not None:
        limits = replace(limits, messages_per_day=_count(args.daily, "--daily"))
    if args.expires is not None:
        limits = replace(limits, expires_at=parse_expiry(args.expires, now or time.time()))
    if args.networks is not None:
        limits = replace(limits, networks=parse_networks(args.networks))
    return limits


def _count(text: str, option: str) -> int | None:
    if text.strip().lower() in CLEAR:
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise ValidationError(f"{option} must be a whole number of at least 1, or none")
    return int(text)


def parse_expiry(text: str, now: float) -> float | None:
    value = text.strip()
    if value.lower() in CLEAR:
        return None
    duration = _DURATION.fullmatch(value.lower())
    if duration is not None:
        return now + int(duration.group(1)) * _UNIT_SECONDS[duration.group(2)]
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            f"--expires: {value!r} is neither a UTC date or time (2027-01-31T18:00) "
            "nor a time from now (90d, 12h)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def parse_networks(text: str) -> tuple[str, ...]:
    if text.strip().lower() in CLEAR:
        return ()
    networks: list[str] = []
    for part in text.split(","):
        entry = part.strip()
        if not entry:
            continue
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ValidationError(f"--networks: {entry!r} is not an address or CIDR") from None
    if not networks:
        raise ValidationError("--networks needs at least one network, or any")
    return tuple(networks)


def describe(limits: KeyLimits) -> str:
    """One short cell for ``smsgw keys list``."""
    parts = []
    if limits.requests_per_minute is not None:
        parts.append(f"{limits.requests_per_minute}/min")
    if limits.messages_per_day is not None:
        parts.append(f"{limits.messages_per_day} msgs/day")
    if limits.networks:
        parts.append("from " + " ".join(limits.networks))
    return ", ".join(parts) or "-"
