"""Choosing the cheapest alphabet for a text and cutting it into segments.

GSM 7-bit (default table plus its extension) when every character fits; otherwise
UCS-2 (UTF-16BE, so emoji are surrogate pairs counted as two units), unless an opted-in
national language table pair (TS 23.038 Annex A) needs strictly fewer segments.
Cuts never separate an escape from its character or the halves of a surrogate pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from drivers.errors import EncodeError
from drivers.pdu import gsm7, udh
from drivers.pdu.gsm7 import Language, TablePair
from drivers.pdu.types import Encoding

USER_DATA_OCTETS: Final = 140
MAX_SEGMENTS: Final = 255  # the concatenation IE counts parts in one octet
_UDHL_OCTETS: Final = 1
_HIGH_SURROGATE_FIRST_OCTETS: Final = range(0xD8, 0xDC)
_ESCAPE: Final = range(gsm7.ESC, gsm7.ESC + 1)


@dataclass(frozen=True, slots=True)
class Plan:
    """Per-segment payloads: unpacked septets for GSM 7-bit, UTF-16BE octets for UCS-2."""

    encoding: Encoding
    chunks: list[bytes]
    pair: TablePair = gsm7.DEFAULT_PAIR

    @property
    def has_header(self) -> bool:
        return len(self.chunks) > 1 or self.pair != gsm7.DEFAULT_PAIR


def _cut(payload: bytes, single: int, multi: int, unit: int, splits_here: range) -> list[bytes]:
    """Greedy cut into ``multi``-sized chunks, stepping back one unit off a pair's first half."""
    if len(payload) <= single:
        return [payload]
    chunks: list[bytes] = []
    pos, end_all = 0, len(payload)
    while pos < end_all:
        end = min(pos + multi, end_all)
        if end < end_all and payload[end - unit] in splits_here:
            end -= unit
        chunks.append(payload[pos:end])
        pos = end
    return chunks


def _capacity_septets(header_octets: int) -> int:
    return (USER_DATA_OCTETS - header_octets) * 8 // 7


def _gsm7_chunks(septets: bytes, pair: TablePair, concat_octets: int) -> list[bytes]:
    national = len(udh.national_ies(pair))
    single = _capacity_septets(_UDHL_OCTETS + national if national else 0)
    multi = _capacity_septets(_UDHL_OCTETS + national + concat_octets)
    return _cut(septets, single, multi, 1, _ESCAPE)


def _ucs2_chunks(text: str, concat_octets: int) -> list[bytes]:
    try:
        payload = text.encode("utf-16-be")
    except UnicodeEncodeError:
        raise EncodeError("text contains a lone UTF-16 surrogate") from None
    multi = (USER_DATA_OCTETS - _UDHL_OCTETS - concat_octets) // 2 * 2
    return _cut(payload, USER_DATA_OCTETS, multi, 2, _HIGH_SURROGATE_FIRST_OCTETS)


def check_national(national: str | None) -> Language | None:
    if national is None:
        return None
    for language in gsm7.NATIONAL_PAIRS:
        if language == national:
            return language
    raise EncodeError("national must be one of 'es', 'pt', 'tr' or None")


def concat_bits(reference: int | None, bits: int | None) -> int:
    """The width of the concatenation reference: ``bits`` when given (8 or 16, and the
    reference must fit), else 8 unless the reference needs 16 (a caller from before
    ``bits`` existed). 8 bits is what handsets send: 153 GSM-7 / 67 UCS-2 per part."""
    if bits is None:
        return 16 if reference is not None and reference > 0xFF else 8
    if bits not in (8, 16):
        raise EncodeError("concatenation reference bits must be 8 or 16")
    if reference is not None and not 0 <= reference < 1 << bits:
        raise EncodeError(f"a {bits}-bit concatenation reference must be 0-{(1 << bits) - 1}")
    return bits


def plan(
    text: str, national: str | None = None, reference: int = 0, bits: int | None = None
) -> Plan:
    """The cheapest encoding of ``text``; the concat IE is 8 or 16 bits (``concat_bits``)."""
    language = check_national(national)
    if not text:
        raise EncodeError("text is empty")
    concat_octets = udh.concat_ie_octets(concat_bits(reference, bits))
    septets = gsm7.to_septets(text)
    if septets is not None:
        return _checked(
            Plan(Encoding.GSM7, _gsm7_chunks(septets, gsm7.DEFAULT_PAIR, concat_octets))
        )
    best = Plan(Encoding.UCS2, _ucs2_chunks(text, concat_octets))
    if language is not None:
        for pair in gsm7.NATIONAL_PAIRS[language]:
            septets = gsm7.to_septets(text, pair)
            if septets is None:
                continue
            chunks = _gsm7_chunks(septets, pair, concat_octets)
            if len(chunks) < len(best.chunks):
                best = Plan(Encoding.GSM7, chunks, pair)
    return _checked(best)


def _checked(result: Plan) -> Plan:
    if len(result.chunks) > MAX_SEGMENTS:
        raise EncodeError(f"text needs more than {MAX_SEGMENTS} segments")
    return result


def segments(
    text: str,
    *,
    national: str | None = None,
    reference: int | None = None,
    reference_bits: int | None = None,
) -> tuple[Encoding, int]:
    """(encoding, segment count) exactly as ``encode`` gives them; EncodeError likewise.

    8-bit references by default; a 16-bit one (``reference_bits=16``, or a reference
    above 255) costs one character per part.
    """
    result = plan(text, national, reference or 0, reference_bits)
    return result.encoding, len(result.chunks)
