from __future__ import annotations

import pytest

from drivers.pdu import gsm7


@pytest.mark.parametrize("locking", [None, "tr", "pt"])
def test_locking_tables_are_complete_and_unambiguous(locking: gsm7.Language | None) -> None:
    table = gsm7.decode_table(locking)
    assert len(table) == 127  # 128 code points less ESC
    assert len(set(table.values())) == 127


@pytest.mark.parametrize(
    ("locking", "septet", "char"),
    [
        # TS 23.038 §6.2.1 default alphabet: the positions that are not ASCII.
        (None, 0x00, "@"),
        (None, 0x02, "$"),
        (None, 0x11, "_"),
        (None, 0x24, "¤"),
        (None, 0x40, "¡"),
        (None, 0x5F, "§"),
        (None, 0x60, "¿"),
        (None, 0x7F, "à"),
        # A.3.1 Turkish locking shift.
        ("tr", 0x04, "€"),
        ("tr", 0x07, "ı"),
        ("tr", 0x0B, "Ğ"),
        ("tr", 0x1C, "Ş"),
        ("tr", 0x40, "İ"),
        ("tr", 0x60, "ç"),
        # A.3.3 Portuguese locking shift.
        ("pt", 0x04, "ê"),
        ("pt", 0x12, "ª"),
        ("pt", 0x15, "∞"),
        ("pt", 0x24, "º"),
        ("pt", 0x40, "Í"),
        ("pt", 0x60, "~"),
        ("pt", 0x7D, "`"),
    ],
)
def test_locking_table_positions(locking: gsm7.Language | None, septet: int, char: str) -> None:
    assert gsm7.decode_table(locking)[septet] == char


@pytest.mark.parametrize(
    ("single", "code", "char"),
    [
        (None, 0x0A, "\f"),
        (None, 0x14, "^"),
        (None, 0x2F, "\\"),
        (None, 0x40, "|"),
        (None, 0x65, "€"),
        ("es", 0x09, "ç"),
        ("es", 0x41, "Á"),
        ("es", 0x75, "ú"),
        ("tr", 0x47, "Ğ"),
        ("tr", 0x69, "ı"),
        ("tr", 0x73, "ş"),
        ("pt", 0x05, "ê"),
        ("pt", 0x5B, "Ã"),
        ("pt", 0x7F, "â"),
    ],
)
def test_single_shift_positions(single: gsm7.Language | None, code: int, char: str) -> None:
    assert gsm7.single_shift(single)[code] == char
    assert gsm7.from_septets(bytes((gsm7.ESC, code)), None, single) == char


def test_every_national_single_shift_keeps_the_default_extension() -> None:
    for language in ("es", "tr", "pt"):
        assert gsm7.single_shift(None).items() <= gsm7.single_shift(language).items()


def test_escape_characters_cost_two_septets() -> None:
    assert gsm7.to_septets("[a]") == b"\x1b\x3ca\x1b\x3e"
    assert gsm7.to_septets("§\f") == b"\x5f\x1b\x0a"


def test_characters_outside_the_tables_are_refused() -> None:
    assert gsm7.to_septets("`") is None
    assert gsm7.to_septets("ж") is None
    assert gsm7.to_septets("\x1b") is None  # ESC itself is not a character


def test_locking_shift_is_preferred_over_an_escape() -> None:
    # Portuguese locking has ^ at 0x16, so it costs one septet instead of ESC 0x14.
    assert gsm7.to_septets("^", ("pt", "pt")) == b"\x16"


def test_unknown_escape_shows_the_basic_character() -> None:
    # 23.038 §6.2.1.1: ESC followed by a code with no extension character -> basic table.
    assert gsm7.from_septets(b"\x1bA", None, None) == "A"
    assert gsm7.from_septets(b"\x1b\x1bA", None, None) == " A"
    assert gsm7.from_septets(b"a\x1b", None, None) == "a "
