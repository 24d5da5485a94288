"""The cost preview measures the plan ``encode`` sends: units, room left, what forces UCS-2."""

from __future__ import annotations

import pytest

from drivers.pdu import encode, measure
from drivers.pdu.types import Encoding


@pytest.mark.parametrize(
    "text",
    [
        "a" * 160,
        "a" * 161,
        "a" * 152 + "€" + "b" * 30,
        "{" * 80,
        "a" * 66 + "\U0001f600" + "b" * 10,
        "Clínica mañana",
        "Só amanhã às 9h, até já! Não falte." * 5,
    ],
)
@pytest.mark.parametrize("national", [None, "es", "pt", "tr"])
def test_the_measure_counts_the_segments_encode_builds(text: str, national: str | None) -> None:
    measured = measure(text, national=national)
    pdus = encode("+15550001111", text, national=national, reference=7)
    assert measured.segment_count == len(pdus)
    assert 0 <= measured.units_left < measured.units_per_segment
    assert measured.units <= measured.segment_count * measured.units_per_segment


def test_an_extension_character_counts_two_and_tips_into_a_second_segment() -> None:
    full = measure("a" * 158 + "€")
    assert (full.segment_count, full.units, full.units_left) == (1, 160, 0)
    over = measure("a" * 159 + "€")
    assert (over.segment_count, over.units_per_segment, over.units) == (2, 153, 161)


def test_the_characters_forcing_ucs2_are_named_once_in_order() -> None:
    measured = measure("Olá 😀 olá 😀 ok")
    assert measured.encoding is Encoding.UCS2
    assert measured.ucs2_forcing == ("á", "😀")
    # The Portuguese table holds á: 120 characters go in one GSM-7 segment, not two UCS-2.
    portuguese = measure("Olá " * 30, national="pt")
    assert (portuguese.encoding, portuguese.national, portuguese.segment_count) == (
        Encoding.GSM7,
        "pt",
        1,
    )
    assert portuguese.ucs2_forcing == ()


def test_a_table_that_saves_no_segment_still_names_what_to_remove() -> None:
    # One short segment either way: UCS-2 wins the tie, and í is what forces it.
    short = measure("Clínica", national="es")
    assert (short.encoding, short.national) == (Encoding.UCS2, None)
    assert short.ucs2_forcing == ("í",)
