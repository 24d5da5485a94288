"""Modem families: a ``[[modems]]`` table whose ``port`` is a glob.

Every device path the glob matches becomes a modem of its own, with the family's
settings (profile, tags, rate, PIN, SMSC, timeouts, balance check, IMEI), named
``<family>-<suffix>``. The name must survive replugs and restarts, because metrics
labels and the stored history of each message are keyed on it, so the suffix
comes from the by-id link's name and from nothing else:

- a udev by-id name ``usb-<vendor>_<model>_<serial>[-ifNN][-portN]`` gives its
  serial (the part after the last ``_``), lowercased, when that is only ``a-z0-9``
  and ``<family>-<serial>`` fits in 32 characters;
- otherwise the suffix is the first 8 hex digits of the SHA-256 of the link's
  name (a family name has at most 23 characters, so this always fits).

``usb-Quectel_EC25_0123456789ab-if02-port0`` in family ``sticks`` is therefore
``sticks-0123456789ab``. A serial number identifies hardware, not a patient.
A second path that would get a name already in use (the glob matches two
interfaces of one stick, or a plain modem has that name) is left alone, with a
warning: one stick is one modem.

There is no udev dependency: ``FamilyWatch.run`` polls the glob. A path that
disappears is not forgotten; its modem's supervision sees the unplug and reopens
the same path when it returns. Only paths never seen before start modems.
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import logging
import os
import re
from collections.abc import Awaitable, Callable, Container
from dataclasses import replace
from typing import Final

from gateway.config import ModemConfig

log = logging.getLogger(__name__)

NAME_MAX: Final = 32  # as gateway.config accepts for any modem name
HASH_SUFFIX_LENGTH: Final = 8
_BY_ID_RE: Final = re.compile(r"(?:usb|pci)-(?P<id>.+?)(?:-if[0-9A-Fa-f]{2})?(?:-port[0-9]+)?")
_SERIAL_RE: Final = re.compile(r"[a-z0-9]+")


def member_suffix(family: str, path: str) -> str:
    """The stable part of a device's modem name (see the module docstring)."""
    base = os.path.basename(path)
    found = _BY_ID_RE.fullmatch(base)
    if found is not None:
        serial = found["id"].rsplit("_", 1)[-1].lower()
        if _SERIAL_RE.fullmatch(serial) and len(family) + 1 + len(serial) <= NAME_MAX:
            return serial
    return hashlib.sha256(base.encode()).hexdigest()[:HASH_SUFFIX_LENGTH]


def member_name(family: str, path: str) -> str:
    return f"{family}-{member_suffix(family, path)}"


def member_config(family: ModemConfig, path: str) -> ModemConfig:
    """The family's settings for the device at ``path``."""
    return replace(family, name=member_name(family.name, path), port=path)


class FamilyWatch:
    """Finds the devices of one family; each path is reported once."""

    def __init__(self, family: ModemConfig) -> None:
        assert family.port is not None
        self.family = family
        self.pattern: str = family.port
        self._seen: set[str] = set()
        self._names: dict[str, str] = {}  # member name -> the path that has it

    def scan(self, taken: Container[str]) -> list[ModemConfig]:
        """Members for paths not seen before; ``taken``: names other modems already use."""
        found: list[ModemConfig] = []
        for path in sorted(glob.glob(self.pattern)):
            if path in self._seen:
                continue
            self._seen.add(path)
            member = member_config(self.family, path)
            owner = self._names.get(member.name)
            if owner is not None or member.name in taken:
                log.warning(
                    "modem family %s: %s would be named %s, which %s already has; ignored",
                    self.family.name,
                    path,
                    member.name,
                    owner or "another modem",
                )
                continue
            self._names[member.name] = path
            found.append(member)
        return found

    async def run(
        self,
        start: Callable[[ModemConfig], Awaitable[None]],
        taken: Container[str],
        interval: float,
    ) -> None:
        """Poll every ``interval`` seconds and ``start`` each new member, until cancelled."""
        while True:
            await asyncio.sleep(interval)  # no udev: a modelled poll
            for member in self.scan(taken):
                log.info("modem family %s: device appeared at %s", self.family.name, member.port)
                try:
                    await start(member)
                except Exception:  # one bad device must not end discovery for the rest
                    log.exception("starting modem %s failed", member.name)
