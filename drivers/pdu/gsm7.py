"""GSM 7-bit alphabets of 3GPP TS 23.038 §6.2.1 and Annex A, as lookup tables.

Included: the default alphabet and its extension table (§6.2.1, §6.2.1.1), and the
national language tables for Turkish (single shift A.2.1 and locking shift A.3.1),
Spanish (single shift A.2.2; 23.038 defines no Spanish locking shift) and Portuguese
(single shift A.2.3 and locking shift A.3.3). Other national tables (the Indic ones)
are not included: their language ids decode through the default tables.

A *table pair* is (locking shift language, single shift language); ``None`` means the
default table. Tables map septet -> character; the encoding maps are derived from
them once per pair and cached, so the hot path is one ``str.translate``.
"""

from __future__ import annotations

from functools import cache
from typing import Final, Literal

Language = Literal["tr", "es", "pt"]
TablePair = tuple[Language | None, Language | None]

ESC: Final = 0x1B

# TS 23.038 §6.2.1.2.4: national language identifiers carried in UDH IEs 0x24/0x25.
LANGUAGE_IDS: Final[dict[Language, int]] = {"tr": 1, "es": 2, "pt": 3}
LANGUAGES_BY_ID: Final[dict[int, Language]] = {v: k for k, v in LANGUAGE_IDS.items()}

_LOCKING_SOURCES: Final[dict[Language | None, str]] = {
    # 0x1B (ESC) is a placeholder; it never maps to a character.
    None: (
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
        " !\"#¤%&'()*+,-./0123456789:;<=>?"
        "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
        "¿abcdefghijklmnopqrstuvwxyzäöñüà"
    ),
    "tr": (
        "@£$¥€éùıòÇ\nĞğ\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bŞşßÉ"
        " !\"#¤%&'()*+,-./0123456789:;<=>?"
        "İABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
        "çabcdefghijklmnopqrstuvwxyzäöñüà"
    ),
    "pt": (
        "@£$¥êéúíóç\nÔô\rÁáΔ_ªÇÀ∞^\\€Ó|\x1bÂâÊÉ"
        " !\"#º%&'()*+,-./0123456789:;<=>?"
        "ÍABCDEFGHIJKLMNOPQRSTUVWXYZÃÕÚÜ§"
        "~abcdefghijklmnopqrstuvwxyzãõ`üà"
    ),
}

_DEFAULT_EXTENSION: Final[dict[int, str]] = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

_SINGLE_SHIFT: Final[dict[Language | None, dict[int, str]]] = {
    None: _DEFAULT_EXTENSION,
    "tr": {
        **_DEFAULT_EXTENSION,
        0x47: "Ğ",
        0x49: "İ",
        0x53: "Ş",
        0x63: "ç",
        0x67: "ğ",
        0x69: "ı",
        0x73: "ş",
    },
    "es": {
        **_DEFAULT_EXTENSION,
        0x09: "ç",
        0x41: "Á",
        0x49: "Í",
        0x4F: "Ó",
        0x55: "Ú",
        0x61: "á",
        0x69: "í",
        0x6F: "ó",
        0x75: "ú",
    },
    "pt": {
        **_DEFAULT_EXTENSION,
        0x05: "ê",
        0x09: "ç",
        0x0B: "Ô",
        0x0C: "ô",
        0x0E: "Á",
        0x0F: "á",
        0x12: "Φ",
        0x13: "Γ",
        0x15: "Ω",
        0x16: "Π",
        0x17: "Ψ",
        0x18: "Σ",
        0x19: "Θ",
        0x1F: "Ê",
        0x41: "À",
        0x49: "Í",
        0x4F: "Ó",
        0x55: "Ú",
        0x5B: "Ã",
        0x5C: "Õ",
        0x61: "Â",
        0x69: "í",
        0x6F: "ó",
        0x75: "ú",
        0x7B: "ã",
        0x7C: "õ",
        0x7F: "â",
    },
}

LOCKING_LANGUAGES: Final[tuple[Language, ...]] = ("tr", "pt")

# Table pairs worth trying per opted-in language, cheapest header first.
NATIONAL_PAIRS: Final[dict[Language, tuple[TablePair, ...]]] = {
    "es": ((None, "es"),),
    "tr": ((None, "tr"), ("tr", None), ("tr", "tr")),
    "pt": ((None, "pt"), ("pt", None), ("pt", "pt")),
}
DEFAULT_PAIR: Final[TablePair] = (None, None)


@cache
def decode_table(locking: Language | None) -> dict[int, str]:
    """Septet -> character for ``str.translate`` over latin-1-decoded septets."""
    return {i: c for i, c in enumerate(_LOCKING_SOURCES[locking]) if i != ESC}


def single_shift(single: Language | None) -> dict[int, str]:
    return _SINGLE_SHIFT[single]


@cache
def encode_table(pair: TablePair) -> dict[int, str]:
    """Character -> its septets (one, or ESC + code) as a latin-1 string, for translate."""
    locking, single = pair
    table = {ord(c): "\x1b" + chr(code) for code, c in _SINGLE_SHIFT[single].items()}
    table.update({ord(c): chr(code) for code, c in decode_table(locking).items()})
    return table


@cache
def charset(pair: TablePair) -> frozenset[str]:
    return frozenset(chr(k) for k in encode_table(pair))


def to_septets(text: str, pair: TablePair = DEFAULT_PAIR) -> bytes | None:
    """Unpacked septets for ``text`` (escapes as two septets), or None if a char is missing."""
    if not charset(pair).issuperset(text):
        return None
    return text.translate(encode_table(pair)).encode("latin-1")


def from_septets(septets: bytes, locking: Language | None, single: Language | None) -> str:
    """Characters for unpacked septets; an unknown escape shows the basic-table character."""
    basic = decode_table(locking)
    if ESC not in septets:
        return septets.decode("latin-1").translate(basic)
    shift = _SINGLE_SHIFT[single]
    out: list[str] = []
    escaped = False
    for s in septets:
        if escaped:
            escaped = False
            # 23.038 §6.2.1.1: an escape to an undefined code shows the basic character;
            # ESC ESC is reserved for a further table, shown as a space.
            out.append(shift.get(s) or basic.get(s, " "))
        elif s == ESC:
            escaped = True
        else:
            out.append(basic[s])
    if escaped:
        out.append(" ")
    return "".join(out)
