"""Segment counts at the boundaries, and decode(encode(x)) == x for any text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.pdu import Deliver, Encoding, Submit, decode, encode, segments
from drivers.pdu.gsm7 import decode_table, single_shift

DEFAULT_CHARS = "".join(decode_table(None).values()) + "".join(single_shift(None).values())
NATIONAL_CHARS = "áíóúçşığİĞŞêôãõâÁÍÓÚÃÕ"


@pytest.mark.parametrize(
    ("text", "national", "expected"),
    [
        ("a" * 160, None, (Encoding.GSM7, 1)),
        ("a" * 161, None, (Encoding.GSM7, 2)),
        ("a" * 306, None, (Encoding.GSM7, 2)),
        ("a" * 307, None, (Encoding.GSM7, 3)),
        ("€" * 80, None, (Encoding.GSM7, 1)),  # escapes count two septets
        ("a" * 159 + "€", None, (Encoding.GSM7, 2)),
        ("ж" * 70, None, (Encoding.UCS2, 1)),
        ("ж" * 71, None, (Encoding.UCS2, 2)),
        ("ж" * 134, None, (Encoding.UCS2, 2)),
        ("ж" * 135, None, (Encoding.UCS2, 3)),
        ("😀" * 35, None, (Encoding.UCS2, 1)),  # 70 UTF-16 units
        ("😀" * 35 + "a", None, (Encoding.UCS2, 2)),
        # Spanish single shift: 147 + 4 escapes = 155 septets fit one part with IE 24.
        ("a" * 147 + "áíóú", "es", (Encoding.GSM7, 1)),
        ("a" * 148 + "áíóú", "es", (Encoding.GSM7, 2)),  # then 149 per part
        ("a" * 147 + "áíóú", None, (Encoding.UCS2, 3)),  # not opted in
        ("á" * 155, "es", (Encoding.UCS2, 3)),  # a tie goes to UCS-2
        ("ş" * 152, "tr", (Encoding.GSM7, 1)),  # locking shift: one septet each
        ("ã" * 152, "pt", (Encoding.GSM7, 1)),
        ("a" * 160, "es", (Encoding.GSM7, 1)),  # the default alphabet needs no header
    ],
)
def test_segment_counts(text: str, national: str | None, expected: tuple[Encoding, int]) -> None:
    assert segments(text, national=national) == expected
    assert len(encode("+1", text, national=national)) == expected[1]


def _septets_in(hex_pdu: str) -> str:
    decoded = decode(hex_pdu)
    assert isinstance(decoded, Submit)
    return decoded.text


def test_16bit_reference_leaves_one_character_less_per_part() -> None:
    assert segments("a" * 306) == (Encoding.GSM7, 2)
    assert segments("a" * 306, reference=256) == (Encoding.GSM7, 3)
    assert segments("ж" * 134, reference=256) == (Encoding.UCS2, 3)


def test_escape_is_not_split_across_segments() -> None:
    # 152 'a' then '€' (2 septets) would straddle 153: the escape moves to part two.
    pdus = encode("+1", "a" * 152 + "€" + "b" * 10, reference=1)
    assert [_septets_in(p.hex) for p in pdus] == ["a" * 152, "€" + "b" * 10]


def test_surrogate_pair_is_not_split_across_segments() -> None:
    # 66 units then an emoji (2 units) would straddle 67: the pair moves to part two.
    pdus = encode("+1", "ж" * 66 + "😀" + "ж" * 10, reference=1)
    assert [_septets_in(p.hex) for p in pdus] == ["ж" * 66, "😀" + "ж" * 10]


def _round_trip(text: str, national: str | None, reference: int) -> None:
    pdus = encode("+15551234567", text, national=national, reference=reference)
    assert (pdus[0].encoding, len(pdus)) == segments(text, national=national, reference=reference)
    joined = []
    for pdu in pdus:
        octets = bytes.fromhex(pdu.hex)
        assert pdu.tpdu_length == len(octets) - 1
        decoded = decode(pdu.hex)
        assert isinstance(decoded, Submit)
        assert len(octets) - _HEADER_OCTETS <= 140
        if len(pdus) > 1:
            assert decoded.concat is not None
            assert (decoded.concat.sequence, decoded.concat.total) == (pdu.sequence, len(pdus))
        joined.append(decoded.text)
    assert "".join(joined) == text


# Before the user data: SMSC 00 | FO | MR | DA 0B 91 + 6 octets | PID | DCS | UDL.
_HEADER_OCTETS = 1 + 1 + 1 + 2 + 6 + 1 + 1 + 1


alphabets = st.sampled_from(
    [DEFAULT_CHARS, DEFAULT_CHARS + NATIONAL_CHARS, DEFAULT_CHARS + "жд€", None]
)


@settings(max_examples=150, deadline=None)
@given(
    st.data(),
    alphabets,
    st.sampled_from([None, "es", "pt", "tr"]),
    st.sampled_from([7, 300]),
)
def test_decode_of_encode_gives_back_the_text(
    data: st.DataObject, alphabet: str | None, national: str | None, reference: int
) -> None:
    chars = (
        st.characters(codec="utf-16", exclude_categories=["Cs"])
        if alphabet is None
        else st.sampled_from(alphabet)
    )
    text = data.draw(st.text(chars, min_size=1, max_size=400))
    _round_trip(text, national, reference)


@settings(max_examples=30, deadline=None)
@given(st.text(st.sampled_from("a€😀ж"), min_size=60, max_size=400))
def test_boundaries_with_pairs_round_trip(text: str) -> None:
    _round_trip(text, None, 9)


def test_deliver_segments_round_trip_with_national_tables() -> None:
    from datetime import UTC, datetime

    from drivers.pdu import encode_deliver

    text = "Cita confirmada: miércoles, habitación 4. ¿Preguntas? Llámenos. " * 4
    hexes = encode_deliver("+34600000000", text, timestamp=datetime.now(UTC), national="es")
    parts = [decode(h) for h in hexes]
    assert all(isinstance(p, Deliver) and p.encoding is Encoding.GSM7 for p in parts)
    assert "".join(p.text for p in parts if isinstance(p, Deliver)) == text
