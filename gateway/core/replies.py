"""Expected replies: which answer a patient's text is, and whether a declared map is sound.

A message may declare ``replies`` ({"C": "confirmed", "R": "reschedule"}): a text from that
patient within the window matches when, folded (gateway.core.folding), it is one of the
keys, or the meaning itself or a plain stem of it ("confirm" for "confirmed"). Keys win
over meanings. The match commits with the text: the store takes :meth:`ReplyMatcher.value`
as its reply rule (pure and quick, as it runs inside the write transaction), so a crash
keeps both or neither. A consent keyword is never a reply (``is_consent_keyword``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from gateway.core.folding import normalize
from gateway.errors import ValidationError

DEFAULT_REPLY_WINDOW: Final = 72 * 3600.0  # seconds after the message went out
MAX_REPLIES: Final = 10
MAX_REPLY_CHARS: Final = 32  # a key or a meaning
_SUFFIXES: Final = ("ing", "ed", "d", "s")  # "confirmed" -> "confirm", "cancels" -> "cancel"
_MIN_STEM: Final = 4

KeywordTest = Callable[[str], bool]


def fold(text: str) -> str:
    """The form compared; a key of symbols only ("👍") keeps them rather than vanish."""
    return normalize(text) or " ".join(text.casefold().split())


def forms(word: str) -> frozenset[str]:
    """A folded word and its plain stems: "cancelled" -> {cancelled, cancell, cancel}."""
    found = {word}
    for suffix in _SUFFIXES:
        stem = word.removesuffix(suffix)
        if stem != word and len(stem) >= _MIN_STEM:
            found.add(stem)
            if stem[-1] == stem[-2] and stem[-1] not in "aeiou":
                found.add(stem[:-1])
    return frozenset(found)


def match(text: str, replies: Mapping[str, str]) -> str | None:
    """The meaning ``text`` answers among ``replies``, or None."""
    said = fold(text)
    if not said:
        return None
    for key, meaning in replies.items():
        if fold(key) == said:
            return meaning
    said_forms = forms(said)
    for meaning in replies.values():
        if said_forms & forms(fold(meaning)):
            return meaning
    return None


def check_replies(replies: Mapping[str, str], field: str) -> None:
    """Meaning checks beyond the shape: two keys the patient could not tell apart."""
    seen: dict[str, str] = {}
    for key in replies:
        folded = fold(key)
        if folded in seen:
            raise ValidationError(
                f"replies keys {seen[folded]!r} and {key!r} read the same to a patient",
                field=field,
            )
        seen[folded] = key


def choices(keys: list[str]) -> str:
    """The keys as the nudge names them: "C or R", "1, 2 or 3"."""
    if len(keys) < 2:
        return "".join(keys)
    return f"{', '.join(keys[:-1])} or {keys[-1]}"


class ReplyMatcher:
    """The store's reply rule: a consent keyword is never a reply."""

    def __init__(self, is_consent_keyword: KeywordTest) -> None:
        self._is_consent_keyword = is_consent_keyword

    def may_answer(self, text: str) -> bool:
        return not self._is_consent_keyword(text)

    def value(self, text: str, replies: Mapping[str, str]) -> str | None:
        if not self.may_answer(text):
            return None
        return match(text, replies)
