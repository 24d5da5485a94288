"""Which inbound texts are consent keywords (STOP, START, HELP and their kin).

A text is a keyword only when, trimmed, case-folded and stripped of punctuation, it
is exactly one: "Stop." is, "please don't stop my meds" is not. ``STOP <category>``
stops one category, but only when the word names a configured category, so a
patient's "stop texting" is not mistaken for a category nobody has.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from gateway.config import DEFAULT_CATEGORIES, ConsentConfig
from gateway.core.folding import normalize

STOP_WORDS: Final = (
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
    "OPT OUT",
    "REVOKE",
)
START_WORDS: Final = ("START", "UNSTOP", "YES")
HELP_WORDS: Final = ("HELP", "INFO")
_ALL: Final = "all"  # "STOP ALL" is every category, as STOPALL is


class KeywordAction(enum.StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


@dataclass(frozen=True, slots=True)
class ConsentKeyword:
    action: KeywordAction
    category: str | None = None  # STOP/START <category>; None: every category


def _words(configured: Iterable[str], defaults: Iterable[str]) -> frozenset[str]:
    return frozenset(normalize(word) for word in (*defaults, *configured)) - {""}


def parse_keyword(
    text: str, config: ConsentConfig, categories: Iterable[str] = DEFAULT_CATEGORIES
) -> ConsentKeyword | None:
    """The keyword ``text`` is, or None. Pure: the after-hours reply calls it too, to
    stay silent on keywords. ``categories``: the configured category names."""
    said = normalize(text)
    if not said:
        return None
    stops = _words(config.stop_keywords, STOP_WORDS)
    starts = _words(config.start_keywords, START_WORDS)
    if said in stops:
        return ConsentKeyword(KeywordAction.STOP)
    if said in starts:
        return ConsentKeyword(KeywordAction.START)
    if said in _words(config.help_keywords, HELP_WORDS):
        return ConsentKeyword(KeywordAction.HELP)
    head, _, rest = said.partition(" ")
    if not rest or " " in rest:
        return None
    action = (
        KeywordAction.STOP if head in stops else KeywordAction.START if head in starts else None
    )
    if action is None:
        return None
    if rest == _ALL:
        return ConsentKeyword(action)
    named = {normalize(name): name for name in categories}
    category = named.get(rest)
    return None if category is None else ConsentKeyword(action, category)
