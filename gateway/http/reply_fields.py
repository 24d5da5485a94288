"""The shape of a send's expected replies (``replies``, ``reply_window``).

Their meaning (two keys a patient could not tell apart, a window without replies) is the
service's to check (gateway.core.replies, gateway.core.submission). Errors name the key
(``replies.C``): keys are the clinic's choices, not PHI; values are never repeated.
"""

from __future__ import annotations

from typing import Any, Final

from gateway.core.replies import MAX_REPLIES, MAX_REPLY_CHARS
from gateway.errors import InvalidTime, ValidationError

MIN_REPLY_WINDOW: Final = 60  # seconds
MAX_REPLY_WINDOW: Final = 30 * 86_400
REPLY_FIELDS: Final = frozenset({"replies", "reply_window"})


def parse_replies(value: object, prefix: str) -> dict[str, str] | None:
    """None for none (absent, or ``{}``: the message expects no answer)."""
    if value is None or value == {}:
        return None
    field = prefix + "replies"
    if not isinstance(value, dict) or len(value) > MAX_REPLIES:
        raise ValidationError(
            f"replies must be an object of at most {MAX_REPLIES} answers, each naming its meaning",
            field=field,
        )
    replies: dict[str, str] = {}
    for key, meaning in value.items():
        if not key.strip() or len(key) > MAX_REPLY_CHARS:
            raise ValidationError(
                f"each answer must have 1 to {MAX_REPLY_CHARS} characters, not only spaces",
                field=field,
            )
        if not isinstance(meaning, str) or not meaning.strip() or len(meaning) > MAX_REPLY_CHARS:
            raise ValidationError(
                f"a meaning must be a string of 1 to {MAX_REPLY_CHARS} characters",
                field=f"{field}.{key}",
            )
        replies[key.strip()] = meaning.strip()
    return replies


def parse_reply_window(value: Any, prefix: str) -> float | None:
    if value is None:
        return None
    field = prefix + "reply_window"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("reply_window must be an integer number of seconds", field=field)
    if not MIN_REPLY_WINDOW <= value <= MAX_REPLY_WINDOW:
        raise InvalidTime(
            f"reply_window must be between {MIN_REPLY_WINDOW} and {MAX_REPLY_WINDOW} seconds",
            field=field,
        )
    return float(value)
