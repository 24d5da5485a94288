"""SMS-SUBMIT/DELIVER/STATUS-REPORT encoding against PDUs derived by hand from TS 23.040."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from drivers.errors import EncodeError
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
from drivers.pdu.address import encode_sender
from drivers.pdu.timestamps import decode_scts, encode_relative_vp, encode_scts
from tests.drivers.pdu.bits import naive_pack


def test_hello_with_status_report_request() -> None:
    # 00 no SMSC | FO 21 = SUBMIT 01 + SRR 20 | MR 00 | DA 0B digits, TOA 91,
    # 27820001111 -> 72 28 00 10 11 F1 | PID 00 | DCS 00 | UDL 05 |
    # "Hello" 48 65 6C 6C 6F packed: 48|(65&1)<<7=C8, 65>>1|(6C&3)<<6=32, 9B, FD, 06.
    [pdu] = encode("+27820001111", "Hello")
    assert pdu.hex == "0021000B917228001011F1000005C8329BFD06"
    assert pdu.tpdu_length == 18  # 19 octets less the 00 SMSC octet
    assert (pdu.sequence, pdu.total, pdu.encoding) == (1, 1, Encoding.GSM7)


def test_national_number_smsc_and_relative_validity() -> None:
    # SMSC 03 = TOA + 2 octets, 91, 4412 -> 44 21 | FO 11 = SUBMIT + VPF relative (10) |
    # MR 00 | DA 04 digits, TOA 81, 0123 -> 10 32 | PID 00 | DCS 00 | VP 4 days = 166+4 = AA |
    # UDL 02 | "hi": 68|(69&1)<<7 = E8, 69>>1 = 34.
    [pdu] = encode("0123", "hi", request_report=False, validity=timedelta(days=4), smsc="+4412")
    assert pdu.hex == "039144211100048110320000AA02E834"
    assert pdu.tpdu_length == 12


def test_ucs2_emoji_is_a_surrogate_pair() -> None:
    # U+1F601 -> D83D DE01 in UTF-16; DCS 08; UDL 10 = 16 octets (8 units).
    [pdu] = encode("+1", "hello 😁", request_report=False)
    assert pdu.hex == "0001000191F100081000680065006C006C006F0020D83DDE01"
    assert pdu.encoding is Encoding.UCS2


def test_concat_8bit_reference_second_segment() -> None:
    # 161 'a' -> 153 + 8. FO 61 = SUBMIT + SRR + UDHI. UDH 05 00 03 42 02 02 = 48 bits,
    # so 7 header septets with 1 fill bit; UDL = 7 + 8 = 0F. Eight 'a' (1100001) after one
    # zero bit, LSB first: C2 E1 70 38 1C 0E 87 01.
    pdus = encode("+1", "a" * 161, reference=0x42)
    assert [p.total for p in pdus] == [2, 2]
    assert pdus[1].hex == "0061000191F100000F050003420202C2E170381C0E8701"


def test_concat_16bit_reference_second_segment() -> None:
    # Reference > 255 -> IEI 08: UDH 06 08 04 12 34 02 02 = 56 bits = 8 septets, no fill;
    # 152 septets per segment, so 161 'a' -> 152 + 9; UDL = 8 + 9 = 11.
    pdus = encode("+1", "a" * 161, reference=0x1234)
    assert pdus[0].hex[16:32] == "A006080412340201"  # UDL A0 = 8 + 152
    assert pdus[1].hex == "0061000191F1000011060804123402" + "02E170381C0E87C361"


def test_spanish_single_shift_header_and_fill_bits() -> None:
    # 'á' is ESC 61 in the Spanish single shift table; UDH 03 24 01 02 (IEI 24, language 2)
    # = 32 bits -> 5 septets, 3 fill bits; UDL = 5 + 2 + 70 = 4D. UCS-2 would need 2 parts.
    [pdu] = encode("+1", "á" + "a" * 70, national="es", request_report=False)
    septets = b"\x1b\x61" + b"a" * 70
    expected = "0041000191F100004D03240102" + naive_pack(septets, 3).hex().upper()
    assert pdu.hex == expected


def test_turkish_locking_shift_header() -> None:
    # 'ş' and 'ı' are single septets in the Turkish locking table (0x1D, 0x07) but escapes
    # in the single shift table (which would need 180 septets, 2 parts): UDH 03 25 01 01,
    # UDL = 5 + 90 = 5F; first septet 1D after 3 fill bits -> 1D << 3 = E8.
    text = "ş" * 80 + "ı" * 10
    [pdu] = encode("+1", text, national="tr", request_report=False)
    assert pdu.hex.startswith("0041000191F100005F03250101E8")
    decoded = decode(pdu.hex)
    assert isinstance(decoded, Submit)
    assert decoded.text == text


def test_absolute_validity_uses_the_time_stamp_format() -> None:
    # FO 19 = SUBMIT + VPF absolute (18); 2026-11-27 04:30:15 -03:00 ->
    # 62 11 72 40 03 51 and zone 12 quarters -> 21 with the sign bit (08) -> 29.
    moment = datetime(2026, 11, 27, 4, 30, 15, tzinfo=timezone(-timedelta(hours=3)))
    [pdu] = encode("+1", "a", request_report=False, validity=moment)
    assert pdu.hex == "0019000191F100006211724003512901" + "61"


@pytest.mark.parametrize(
    ("validity", "tp_vp"),
    [
        (timedelta(seconds=1), 0),  # under 5 minutes counts as 5
        (timedelta(minutes=5), 0),
        (timedelta(minutes=6), 1),  # rounds up to 10 minutes
        (timedelta(hours=12), 143),
        (timedelta(hours=12, minutes=1), 144),
        (timedelta(hours=24), 167),
        (timedelta(hours=25), 168),  # 2 days
        (timedelta(days=30), 196),
        (timedelta(days=31), 197),  # 5 weeks
        (timedelta(weeks=52), 244),
        (timedelta(weeks=63), 255),
        (timedelta(weeks=100), 255),  # capped
    ],
)
def test_relative_validity_rounds_up(validity: timedelta, tp_vp: int) -> None:
    assert encode_relative_vp(validity) == tp_vp


def test_time_stamp_round_trip_with_negative_zone() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(-timedelta(hours=9, minutes=30)))
    assert decode_scts(encode_scts(moment)) == moment
    assert decode_scts(encode_scts(moment)).utcoffset() == moment.utcoffset()


def test_alphanumeric_sender() -> None:
    # TON 101 (TOA D0); 7 septets = 49 bits -> 13 semi-octets (0D).
    assert encode_sender("Telfort") == bytes((0x0D, 0xD0)) + naive_pack(b"Telfort")


def test_deliver_round_trips_through_decode() -> None:
    moment = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    hexes = encode_deliver("Clinic", "x" * 200, timestamp=moment, smsc="+15550000", reference=300)
    parts = [decode(h) for h in hexes]
    assert all(isinstance(p, Deliver) for p in parts)
    assert "".join(p.text for p in parts if isinstance(p, Deliver)) == "x" * 200
    first = parts[0]
    assert isinstance(first, Deliver)
    assert (first.sender, first.smsc, first.timestamp) == ("Clinic", "+15550000", moment)
    assert first.concat is not None
    assert (first.concat.reference, first.concat.bits, first.concat.total) == (300, 16, 2)


def test_status_report_encoding() -> None:
    # 00 | FO 06 = STATUS-REPORT (10) + no more messages (04) | MR 40 | RA | SCTS | DT | ST 00.
    sent = datetime(2026, 11, 27, 4, 30, 15, tzinfo=UTC)
    done = sent + timedelta(seconds=4)
    report = encode_status_report(0x40, "+27820001111", 0, timestamp=sent, discharge=done)
    assert report == "0006400B917228001011F1" + "62117240035100" + "62117240039100" + "00"
    decoded = decode(report)
    assert isinstance(decoded, StatusReport)
    assert (decoded.reference, decoded.outcome, decoded.discharge) == (0x40, "delivered", done)


@pytest.mark.parametrize(
    ("number", "text", "kwargs"),
    [
        ("+1 555", "hi", {}),
        ("abc", "hi", {}),
        ("", "hi", {}),
        ("+" + "1" * 21, "hi", {}),
        ("+1", "", {}),
        ("+1", "hi", {"reference": 65536}),
        ("+1", "hi", {"reference": -1}),
        ("+1", "hi", {"national": "fr"}),
        ("+1", "hi", {"smsc": "SMSC"}),
        ("+1", "hi", {"validity": timedelta(0)}),
        ("+1", "hi", {"validity": datetime(1999, 1, 1, tzinfo=UTC)}),
        ("+1", "\ud83d", {}),  # a lone surrogate has no UTF-16 encoding
        ("+1", "ж" * (255 * 67 + 1), {}),  # more than 255 segments
    ],
)
def test_bad_input_raises_encode_error(number: str, text: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(EncodeError):
        encode(number, text, **kwargs)  # type: ignore[arg-type]


def test_bad_simulator_input_raises_encode_error() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(EncodeError):
        encode_deliver("TwelveChars!", "hi", timestamp=moment)
    with pytest.raises(EncodeError):
        encode_deliver("Клиника", "hi", timestamp=moment)
    with pytest.raises(EncodeError):
        encode_status_report(256, "+1", 0, timestamp=moment, discharge=moment)
