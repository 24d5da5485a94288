"""Decoding: DCS groups, headers, addresses, validity formats, reports, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import PduError
from drivers.pdu import (
    Deliver,
    Encoding,
    StatusReport,
    Submit,
    decode,
    encode,
    encode_deliver,
    encode_status_report,
)
from tests.drivers.pdu.bits import naive_pack

# SMSC +15550000 (05 91 5155 0000) | FO | OA +15551234 (08 91 5155 2143) | PID 00.
_SMSC = "0591515500 00".replace(" ", "")
_OA = "0891515521 43".replace(" ", "")
# SCTS 2026-11-27 04:30:15 +01:00: 62 11 72 40 03 51 and 4 quarters -> 40.
_SCTS = "62117240035140"
_STAMP = datetime(2026, 11, 27, 4, 30, 15, tzinfo=timezone(timedelta(hours=1)))


def deliver_hex(dcs: int, udl: int, ud: str, first: int = 0x04, scts: str = _SCTS) -> str:
    return f"{_SMSC}{first:02X}{_OA}00{dcs:02X}{scts}{udl:02X}{ud}"


def _deliver(hex_pdu: str, *, smsc: bool = True) -> Deliver:
    decoded = decode(hex_pdu, smsc=smsc)
    assert isinstance(decoded, Deliver)
    return decoded


def test_plain_deliver_fields() -> None:
    d = _deliver(deliver_hex(0x00, 5, "C8329BFD06"))
    assert (d.smsc, d.sender, d.text, d.timestamp) == ("+15550000", "+15551234", "Hello", _STAMP)
    assert (d.encoding, d.concat, d.message_class, d.pid, d.dcs) == (
        Encoding.GSM7,
        None,
        None,
        0,
        0,
    )


def test_without_smsc_field() -> None:
    d = _deliver(deliver_hex(0x00, 5, "C8329BFD06")[len(_SMSC) :], smsc=False)
    assert (d.smsc, d.text) == (None, "Hello")


# "Hi" packed = 48 | (69 & 1) << 7 = C8, 69 >> 1 = 34; as octets: 48 69; as UCS-2: 0048 0069.
_HI = {Encoding.GSM7: (2, "C834"), Encoding.BIT8: (2, "4869"), Encoding.UCS2: (4, "00480069")}


@pytest.mark.parametrize(
    ("dcs", "encoding", "message_class"),
    [
        (0x00, Encoding.GSM7, None),
        (0x04, Encoding.BIT8, None),
        (0x08, Encoding.UCS2, None),
        (0x0C, Encoding.BIT8, None),  # reserved alphabet
        (0x10, Encoding.GSM7, 0),  # flash
        (0x11, Encoding.GSM7, 1),
        (0x16, Encoding.BIT8, 2),
        (0x1B, Encoding.UCS2, 3),
        (0x20, Encoding.BIT8, None),  # compressed: kept as data
        (0x40, Encoding.GSM7, None),  # marked for automatic deletion
        (0x48, Encoding.UCS2, None),
        (0x52, Encoding.GSM7, 2),
        (0x85, Encoding.BIT8, None),  # 1000-1011 reserved
        (0xB0, Encoding.BIT8, None),
        (0xC8, Encoding.GSM7, None),  # message waiting, discard
        (0xD0, Encoding.GSM7, None),  # message waiting, store
        (0xE8, Encoding.UCS2, None),  # message waiting, store, UCS-2
        (0xF0, Encoding.GSM7, 0),
        (0xF1, Encoding.GSM7, 1),
        (0xF4, Encoding.BIT8, 0),
        (0xF5, Encoding.BIT8, 1),
        (0xF7, Encoding.BIT8, 3),
    ],
)
def test_data_coding_groups(dcs: int, encoding: Encoding, message_class: int | None) -> None:
    udl, ud = _HI[encoding]
    d = _deliver(deliver_hex(dcs, udl, ud))
    assert (d.encoding, d.message_class, d.dcs) == (encoding, message_class, dcs)
    if encoding is Encoding.BIT8:
        assert (d.text, d.data) == ("", b"Hi")
    else:
        assert (d.text, d.data) == ("Hi", b"")


def test_ucs2_pairs_combine_and_lone_halves_are_replaced() -> None:
    d = _deliver(deliver_hex(0x08, 6, "D83DDE030041"))
    assert d.text == "😃A"
    d = _deliver(deliver_hex(0x08, 4, "D83D0041"))  # high surrogate without its pair
    assert d.text == "\ufffdA"
    d = _deliver(deliver_hex(0x08, 3, "004100"))  # odd octet count
    assert d.text == "A\ufffd"


def test_16bit_concat_has_no_fill_bits_and_8bit_has_one() -> None:
    # UDH 06 08 04 ABCD 03 02: 7 octets = 8 septets exactly, text starts on an octet.
    d = _deliver(deliver_hex(0x00, 8 + 2, "060804ABCD0302" + "C834", first=0x44))
    assert (d.text, d.concat and (d.concat.reference, d.concat.total, d.concat.sequence)) == (
        "Hi",
        (0xABCD, 3, 2),
    )
    assert d.concat is not None
    assert d.concat.bits == 16
    # UDH 05 00 03 07 02 01: 6 octets -> 7 septets, one fill bit before "Hi".
    ud = "050003070201" + naive_pack(b"Hi", 1).hex()
    d = _deliver(deliver_hex(0x00, 7 + 2, ud, first=0x44))
    assert d.text == "Hi"
    assert d.concat is not None
    assert (d.concat.reference, d.concat.bits) == (7, 8)


def test_other_information_elements_are_skipped() -> None:
    # UDHL 0B: port addressing 05 04 0B84 23F0, then concat 00 03 01 02 02; 12 octets with
    # the UDHL = 96 bits -> 14 septets with 2 fill bits.
    header = "0B" + "05040B8423F0" + "0003010202"
    d = _deliver(deliver_hex(0x00, 14 + 2, header + naive_pack(b"Hi", 2).hex(), first=0x44))
    assert d.text == "Hi"
    assert d.concat is not None
    assert (d.concat.sequence, d.concat.total) == (2, 2)


def test_concat_with_impossible_sequence_is_ignored() -> None:
    d = _deliver(deliver_hex(0x08, 6 + 2, "050003070300" + "0041", first=0x44))
    assert (d.text, d.concat) == ("A", None)


def test_national_shift_ies_apply_to_gsm7_text() -> None:
    # Locking shift Turkish (25 01 01) + single shift Spanish (24 01 02): UDHL 06, 7 octets
    # = 8 septets, no fill. Septets 07 (ı in Turkish locking), 1B 61 (á in Spanish single).
    septets = b"\x07\x1b\x61"
    d = _deliver(deliver_hex(0x00, 8 + 3, "06250101240102" + naive_pack(septets).hex(), first=0x44))
    assert d.text == "ıá"


def test_alphanumeric_sender_with_odd_semi_octets() -> None:
    # "Lab" = 4C 61 62 -> 21 bits -> 6 semi-octets (06), TOA D0.
    oa = "06D0" + naive_pack(b"Lab").hex().upper()
    hex_pdu = f"{_SMSC}04{oa}0000{_SCTS}02C834"
    assert _deliver(hex_pdu).sender == "Lab"


def test_semi_octet_digits_beyond_nine() -> None:
    # TS 23.040 §9.1.2.3: A-E are * # a b c; a national number keeps no '+'.
    # Low nibble first: * 1 -> 1A, # 2 -> 2B.
    hex_pdu = f"{_SMSC}04 04 81 1A 2B 0000{_SCTS}02C834".replace(" ", "")
    assert _deliver(hex_pdu).sender == "*1#2"


@pytest.mark.parametrize(
    ("scts", "expected"),
    [
        # Negative zone: sign bit 08 in the low nibble; 2B -> -(3*10+2) quarters = -8 h.
        ("6211724003512B", datetime(2026, 11, 27, 4, 30, 15, tzinfo=timezone(-timedelta(hours=8)))),
        # Non-BCD nibbles (F) and an impossible month 00/day 00 are clamped, not refused.
        ("62000040FFFF00", datetime(2026, 1, 1, 4, 59, 59, tzinfo=UTC)),
        ("62118293035100", datetime(2026, 11, 28, 23, 30, 15, tzinfo=UTC)),  # hour 39
    ],
)
def test_time_stamps_are_read_leniently(scts: str, expected: datetime) -> None:
    assert _deliver(deliver_hex(0x00, 2, "C834", scts=scts)).timestamp == expected


def _submit_with_vp(first: int, vp: str) -> Submit:
    # SMSC 00 | FO | MR 07 | DA 01 91 F1 | PID 00 | DCS 00 | VP | UDL 02 | "Hi".
    decoded = decode(f"00{first:02X}070191F10000{vp}02C834")
    assert isinstance(decoded, Submit)
    return decoded


@pytest.mark.parametrize(
    ("first", "vp", "validity"),
    [
        (0x01, "", None),
        (0x11, "A7", timedelta(hours=24)),
        (0x11, "00", timedelta(minutes=5)),
        (0x19, _SCTS, _STAMP),
        # Enhanced (VPF 01): functionality indicator then the period, 7 octets in all.
        (0x09, "01A70000000000", timedelta(hours=24)),  # relative TP-VP format
        (0x09, "421E0000000000", timedelta(seconds=30)),  # seconds, single shot
        (0x09, "03103254000000", timedelta(hours=1, minutes=23, seconds=45)),  # hh mm ss
        (0x09, "8100A700000000", timedelta(hours=24)),  # extended indicator octet
        (0x09, "00000000000000", None),  # no validity period
        (0x09, "05000000000000", None),  # reserved format
    ],
)
def test_validity_period_formats(first: int, vp: str, validity: object) -> None:
    submit = _submit_with_vp(first, vp)
    assert submit.validity == validity
    assert (submit.reference, submit.recipient, submit.text) == (7, "+1", "Hi")


def test_submit_flags() -> None:
    submit = _submit_with_vp(0x25, "")  # RD 04 + SRR 20
    assert (submit.reject_duplicates, submit.request_report) == (True, True)


def test_status_report_with_and_without_optional_fields() -> None:
    report = encode_status_report(
        9, "+15551234", 0x46, timestamp=_STAMP, discharge=_STAMP + timedelta(hours=1)
    )
    # TP-PI 07 (PID, DCS, UDL present), PID 00, DCS 00, UDL 02, "Hi".
    for tail in ("", "07000002C834", "00"):
        decoded = decode(report + tail)
        assert isinstance(decoded, StatusReport)
        assert (decoded.reference, decoded.recipient, decoded.status) == (9, "+15551234", 0x46)
        assert decoded.outcome == "failed"
        assert decoded.discharge == _STAMP + timedelta(hours=1)


def test_decode_is_case_insensitive_and_trims_nothing_it_needs() -> None:
    hex_pdu = encode("+15551234", "lower case")[0].hex
    decoded = decode(hex_pdu.lower())
    assert isinstance(decoded, Submit)
    assert decoded.text == "lower case"


_GOOD = encode_deliver("+15551234", "Hello world", timestamp=_STAMP, smsc="+15550000")[0]


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "zz",
        "0",  # odd length
        "00",  # SMSC only
        "0003",  # TP-MTI 11 is reserved
        "ÿÿ",
        _GOOD[:-2],  # user data one octet short
        f"{_SMSC}44{_OA}0008{_SCTS}0405000301",  # UDHL 05 but the user data ends
        f"{_SMSC}44{_OA}0008{_SCTS}04030003FF",  # IE length 03 runs past UDHL 03
        f"{_SMSC}44{_OA}0000{_SCTS}06050003010201",  # UDL 6 septets < 7 header septets
        "0AFF",  # SMSC length past the end
    ],
)
def test_malformed_input_raises_pdu_error(bad: str) -> None:
    with pytest.raises(PduError) as caught:
        decode(bad)
    assert caught.value.__cause__ is None  # raised on purpose, not by the last-resort guard


def test_every_truncation_of_a_valid_pdu_raises_pdu_error() -> None:
    for end in range(0, len(_GOOD) - 1, 2):
        with pytest.raises(PduError):
            decode(_GOOD[:end])


def _unexpected_failure(hex_pdu: str, *, smsc: bool = True) -> BaseException | None:
    """What the last-resort guard in decode caught, if anything (other errors escape)."""
    try:
        decode(hex_pdu, smsc=smsc)
    except PduError as exc:
        return exc.__cause__
    return None


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=180), st.booleans())
def test_random_bytes_raise_only_pdu_error(data: bytes, smsc: bool) -> None:
    assert _unexpected_failure(data.hex(), smsc=smsc) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=160), st.integers(0, 2))
def test_random_tpdu_bodies_with_valid_heads_raise_only_pdu_error(body: bytes, kind: int) -> None:
    # A plausible start gets the decoder deep into UDH and user data parsing.
    head = ["04" + _OA + "00", "41070191F100", "060B"][kind]
    assert _unexpected_failure("00" + head + body.hex()) is None
