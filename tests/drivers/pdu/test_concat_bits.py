"""153 characters a part: 8-bit concatenation references by default, 16-bit on request."""

from __future__ import annotations

import pytest

from drivers.errors import EncodeError
from drivers.modem import Modem, ModemSettings
from drivers.pdu import Encoding, decode, encode, segments
from drivers.pdu.types import Submit

GSM7_1530 = "".join(chr(ord("a") + i % 26) for i in range(1530))


@pytest.mark.parametrize("reference", [None, 0, 17, 255])
def test_ten_segments_of_153_hold_1530_gsm7_characters(reference: int | None) -> None:
    assert segments(GSM7_1530, reference=reference) == (Encoding.GSM7, 10)
    pdus = encode("+15551234567", GSM7_1530, reference=reference)
    assert len(pdus) == 10
    parts = [decode(p.hex) for p in pdus]
    assert all(isinstance(p, Submit) for p in parts)
    texts = [p.text for p in parts if isinstance(p, Submit)]
    assert [len(t) for t in texts] == [153] * 10
    assert "".join(texts) == GSM7_1530
    concat = [p.concat for p in parts if isinstance(p, Submit)]
    assert all(c is not None and c.bits == 8 for c in concat)


def test_ucs2_parts_hold_67_characters() -> None:
    text = "ж" * 670
    assert segments(text, reference=3) == (Encoding.UCS2, 10)
    assert segments(text, reference=3, reference_bits=16) == (Encoding.UCS2, 11)


def test_sixteen_bits_on_request_even_for_a_small_reference() -> None:
    assert segments(GSM7_1530, reference=5, reference_bits=16) == (Encoding.GSM7, 11)
    pdus = encode("+1", "a" * 161, reference=0x12, reference_bits=16)
    assert [p.total for p in pdus] == [2, 2]
    first = decode(pdus[0].hex)
    assert isinstance(first, Submit)
    assert first.concat is not None
    assert (first.concat.reference, first.concat.bits) == (0x12, 16)
    assert len(first.text) == 152


@pytest.mark.parametrize(("reference", "bits"), [(256, 8), (-1, 8), (70000, 16), (1, 7)])
def test_a_reference_that_does_not_fit_is_refused(reference: int, bits: int) -> None:
    with pytest.raises(EncodeError):
        encode("+1", "a" * 200, reference=reference, reference_bits=bits)
    with pytest.raises(EncodeError):
        segments("a" * 200, reference=reference, reference_bits=bits)


def test_each_modem_rotates_its_own_8_bit_references() -> None:
    modem = Modem(ModemSettings(port="/dev/null"))
    seen = [modem.next_concat_reference() for _ in range(256)]
    assert sorted(seen) == list(range(256))
    assert modem.next_concat_reference() == seen[0]
