"""The confirmation a consent keyword gets, from ``[consent]`` with the clinic's name."""

from __future__ import annotations

from gateway.config import ConsentConfig
from gateway.consent.keywords import ConsentKeyword, KeywordAction


def confirmation_text(keyword: ConsentKeyword, config: ConsentConfig, clinic: str) -> str:
    """Placeholders are replaced, not ``str.format``-ed, so a brace a clinic writes in
    its text is sent as written rather than failing at the moment a patient says STOP."""
    if keyword.action is KeywordAction.STOP:
        template = config.stop_text if keyword.category is None else config.stop_category_text
    elif keyword.action is KeywordAction.START:
        template = config.start_text
    else:
        template = config.help_text
    return template.replace("{clinic}", clinic).replace("{category}", keyword.category or "")
