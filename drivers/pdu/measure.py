"""How much of its segments a text fills, from the very plan ``encode`` sends.

A cost preview must never disagree with the send: it measures the ``Plan`` that
``segments`` and ``encode`` cut, rather than counting characters by a rule of its own.
Units are what a segment holds: septets in GSM-7 (an extension character such as € or
``{`` takes two), UTF-16 code units in UCS-2 (an emoji takes two).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from drivers.pdu import gsm7
from drivers.pdu.gsm7 import Language
from drivers.pdu.segmenting import (
    USER_DATA_OCTETS,
    Plan,
    check_national,
    concat_bits,
    plan,
)
from drivers.pdu.types import Encoding
from drivers.pdu.udh import concat_ie_octets, national_ies

_UDHL_OCTETS: Final = 1
_DEFAULT_CHARSET: Final = gsm7.charset(gsm7.DEFAULT_PAIR)


@dataclass(frozen=True, slots=True)
class Measure:
    encoding: Encoding
    national: Language | None  # the national table the GSM-7 text uses, if any
    segment_count: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2) in all segments
    units_per_segment: int
    units_left: int  # room left in the last segment
    # In UCS-2: the characters to remove for GSM-7 (none of the offered tables holds
    # them; or, when a table holds them all but saves no segment, the default one).
    ucs2_forcing: tuple[str, ...]


def _capacity(result: Plan, bits: int) -> int:
    """Units one segment of this plan holds (a lone segment has no concatenation IE)."""
    header = len(national_ies(result.pair))
    if len(result.chunks) > 1:
        header += concat_ie_octets(bits)
    octets = USER_DATA_OCTETS - (_UDHL_OCTETS + header if header else 0)
    if result.encoding is Encoding.UCS2:
        return octets // 2
    return octets * 8 // 7


def _units(result: Plan, chunk: bytes) -> int:
    return len(chunk) // 2 if result.encoding is Encoding.UCS2 else len(chunk)


def _forcing(text: str, language: Language | None) -> tuple[str, ...]:
    allowed = set(_DEFAULT_CHARSET)
    if language is not None:
        for pair in gsm7.NATIONAL_PAIRS[language]:
            allowed |= gsm7.charset(pair)
    return tuple(dict.fromkeys(c for c in text if c not in allowed))


def measure(
    text: str, *, national: str | None = None, reference: int = 0, reference_bits: int = 8
) -> Measure:
    """The text as ``encode`` would cut it for this national table; EncodeError likewise."""
    language = check_national(national)
    bits = concat_bits(reference, reference_bits)
    result = plan(text, national, reference, bits)
    per_segment = _capacity(result, bits)
    used = [_units(result, chunk) for chunk in result.chunks]
    locking, single = result.pair
    return Measure(
        encoding=result.encoding,
        national=locking or single,
        segment_count=len(result.chunks),
        units=sum(used),
        units_per_segment=per_segment,
        units_left=per_segment - used[-1],
        ucs2_forcing=(_forcing(text, language) or _forcing(text, None))
        if result.encoding is Encoding.UCS2
        else (),
    )
