"""The cost preview of a text: what the send path would plan for it, never a recount.

``estimate`` applies the same text checks, the same route's national table and the
same codec plan (``drivers.pdu.measure`` over ``plan``) as ``prepare_message``, so a
preview and the message actually sent cannot disagree on segments or encoding.
"""

from __future__ import annotations

from drivers import pdu as pdu_codec
from drivers.errors import DriverError
from gateway.core.submission import SubmissionRules, check_text, national_language_for
from gateway.errors import ValidationError


def estimate(
    text: str, to: str | None, rules: SubmissionRules, *, prefix: str = ""
) -> pdu_codec.Measure:
    """Raises the errors a send of ``text`` to ``to`` would (bad number, bad text)."""
    check_text(text, f"{prefix}body")
    national = None if to is None else national_language_for(to, rules, field=f"{prefix}to")
    try:
        return pdu_codec.measure(text, national=national)
    except DriverError:
        raise ValidationError("text cannot be encoded as SMS", field=f"{prefix}body") from None
