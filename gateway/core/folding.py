"""How a patient's short answer is compared: case, punctuation and spacing set aside.

Shared by the consent keywords ("Stop." is STOP) and expected replies ("c " is C).
"""

from __future__ import annotations

import unicodedata


def normalize(text: str) -> str:
    """Case-folded, punctuation and symbols dropped, runs of space made one."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text.casefold()
        if ch.isspace() or unicodedata.category(ch)[0] not in "PSC"
    )
    return " ".join(kept.split())
