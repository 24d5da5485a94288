"""Masking of phone numbers and message texts before anything is logged.

This is the primary mechanism for invariant 3 in logs: every number or body
*argument* goes through one of these helpers before a logger sees it
(``log.info("sent to %s", redact_number(to))``). The filter in ``gateway.logs``
is only a backstop for a number that slipped through.
"""

from __future__ import annotations

import re
from typing import Final

MASK: Final = "•"
KEEP_HEAD: Final = 2  # "+1", "+4": enough to tell countries apart in a log
KEEP_TAIL: Final = 2  # enough to tell two test numbers apart, not to identify a patient


def redact_number(number: str | None) -> str:
    """``"+15551234567"`` → ``"+1•••••••67"``: the length survives, the digits do not.

    Short values (service codes, shortcodes of up to six characters) keep only
    their first character: the last two of a shortcode would give it away.
    """
    if number is None:
        return "<none>"
    value = number.strip()
    if not value:
        return "<empty>"
    if len(value) <= KEEP_HEAD + KEEP_TAIL + 2:
        return value[0] + MASK * (len(value) - 1)
    middle = len(value) - KEEP_HEAD - KEEP_TAIL
    return value[:KEEP_HEAD] + MASK * middle + value[-KEEP_TAIL:]


def redact_text(text: str | None) -> str:
    """A message body becomes its length only: ``"<text 42 chars>"``."""
    if text is None:
        return "<none>"
    return f"<text {len(text)} chars>"


DIGIT_RUN_MIN: Final = 7  # shorter runs are counts, indexes, codes; longer may be a number
_DIGIT_RUN_RE: Final = re.compile(rf"\+?[0-9]{{{DIGIT_RUN_MIN},}}")


def redact_digit_runs(text: str) -> str:
    """Free text that may quote a number (an AT command such as ``ATD+15551234567;``):
    each run of seven or more digits is masked whole (its length survives)."""
    return _DIGIT_RUN_RE.sub(lambda match: re.sub("[0-9]", MASK, match.group(0)), text)
