"""The send gate: whether a number's opt-outs cover a message of some category.

Checked at intake and again right before a message's first segment is written, so
a STOP that arrives while a message waits in the queue still stops it. Categories
that must reach the patient (``opt_out = false``) pass; ``honours_opt_out`` says
which those are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from gateway.config import CARE
from gateway.store.base import Store

# Metadata a consent confirmation carries: it goes out even though the number is
# suppressed (the patient must learn that their STOP was heard).
CONFIRMATION_KEY: Final = "smsgw_consent"

OPTED_OUT: Final = "opted_out"  # the error code a suppressed message and a refusal carry
OPTED_OUT_TEXT: Final = "the recipient opted out of this category of message"

HonoursOptOut = Callable[[str], bool]


def every_category(_category: str) -> bool:
    """Until categories are configured: every category honours opt-out."""
    return True


def blocks(suppressed: frozenset[str | None], category: str, honours: HonoursOptOut) -> bool:
    """``suppressed``: the number's categories on the list (None: all of them)."""
    if not suppressed or not honours(category):
        return False
    return None in suppressed or category in suppressed


def is_confirmation(metadata: Mapping[str, Any]) -> bool:
    return CONFIRMATION_KEY in metadata


class SendGate:
    def __init__(self, store: Callable[[], Store], honours: HonoursOptOut = every_category) -> None:
        self._store = store
        self._honours = honours

    async def blocked(self, to_hashes: Sequence[bytes], categories: Sequence[str]) -> list[bool]:
        """For each (number hash, category) pair: whether it must not be sent."""
        found = await self._store().suppressed_categories(to_hashes)
        return [
            blocks(found.get(to_hash, frozenset()), category, self._honours)
            for to_hash, category in zip(to_hashes, categories, strict=True)
        ]

    async def blocks_message(
        self, to_hash: bytes, metadata: Mapping[str, Any], category: str = CARE
    ) -> bool:
        if is_confirmation(metadata):
            return False
        [blocked] = await self.blocked([to_hash], [category])
        return blocked
