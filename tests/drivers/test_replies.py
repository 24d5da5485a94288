"""Answer parsers and vendor profiles (our own sample lines, in the shapes firmwares use)."""

from __future__ import annotations

import pytest

from drivers import replies
from drivers.quirks import GENERIC, HUAWEI, QUECTEL, SIMCOM, detect_profile, get_profile
from drivers.types import Registration
from drivers.urcs import urc_prefix


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(0-3),(0-3),(0,2),(0,1),(0,1)", [{0, 1, 2, 3}, {0, 1, 2, 3}, {0, 2}, {0, 1}, {0, 1}]),
        ("(2),(0-1,3),(0,2),(0-1),(0)", [{2}, {0, 1, 3}, {0, 2}, {0, 1}, {0}]),
        (
            "(0,1,2),(0,1,2,3),(0,2),(0,1,2),(0,1)",
            [{0, 1, 2}, {0, 1, 2, 3}, {0, 2}, {0, 1, 2}, {0, 1}],
        ),
    ],
)
def test_cnmi_ranges(text: str, expected: list[set[int]]) -> None:
    assert [set(r) for r in replies.ranges(text)] == expected


def test_memory_lists_flat_spaced_and_nested() -> None:
    assert replies.memory_lists('("SM","ME"),("SM","ME"),("SM","ME")') == [("SM", "ME")] * 3
    assert replies.memory_lists('("SM", "ME", "MT"), ("SM", "ME"), ("SM")') == [
        ("SM", "ME", "MT"),
        ("SM", "ME"),
        ("SM",),
    ]
    assert replies.memory_lists('(("SM","BM","SR"),("SM"))') == [("SM", "BM", "SR"), ("SM",)]


def test_storage_counts_query_and_set_forms() -> None:
    assert replies.storage_counts('"ME",3,30,"ME",3,30,"SM",1,20') == [(3, 30), (3, 30), (1, 20)]
    assert replies.storage_counts("2,25,2,25,2,25") == [(2, 25)] * 3


@pytest.mark.parametrize(
    ("text", "query", "expected"),
    [
        ("2,1,4CA,81DE445", True, (Registration.HOME, None)),  # Huawei: unquoted hex
        ('0,1,"5E25","605F",2', True, (Registration.HOME, 2)),
        ('2,5,"2AF5","0B88E350",7', True, (Registration.ROAMING, 7)),
        ("0,0", True, (Registration.NOT_REGISTERED, None)),
        ("3", False, (Registration.DENIED, None)),
        ('1,"1A2B","00C3D4E5",7', False, (Registration.HOME, 7)),
        ("", True, None),
    ],
)
def test_registration(
    text: str, query: bool, expected: tuple[Registration, int | None] | None
) -> None:
    assert replies.registration(text, query=query) == expected


def test_signal_and_dbm() -> None:
    assert replies.signal("20,99") == 20
    assert replies.signal("99,99") is None
    assert replies.rssi_to_dbm(0) == -113
    assert replies.rssi_to_dbm(31) == -51
    assert replies.rssi_to_dbm(None) is None
    assert replies.rssi_urc("14") == 14


def test_operator_and_sim_state() -> None:
    assert replies.operator('0,0,"SimNet",7') == ("SimNet", 7)
    assert replies.operator("0") == (None, None)
    assert replies.sim_state("READY") == "ready"
    assert replies.sim_state("SIM PIN") == "pin"
    assert replies.sim_state("SIM PUK") == "puk"


def test_indications_listing_and_reads() -> None:
    assert replies.indication('"SM",7') == ("SM", 7)
    assert replies.indication('"me", 12') == ("ME", 12)
    assert replies.indication("garbage") is None
    listed = replies.listed(["+CMGL: 0,1,,22", "07AA", "+CMGL: 3,,,24", "07BB"])
    assert listed == [(0, 1, "07AA"), (3, None, "07BB")]
    assert replies.read_pdu(["+CMGR: ,,27", "0297F1"]) == "0297F1"
    assert replies.read_pdu([]) is None


def test_ussd_and_identity() -> None:
    assert replies.ussd('0,"Balance: 1.00",15') == (0, "Balance: 1.00", 15)
    assert replies.ussd("4") == (4, None, None)
    assert replies.identity_value(["+CCID: 89014103211118510720"]) == "89014103211118510720"
    assert replies.identity_value(['^ICCID: "8901410321111851072F"']) == "8901410321111851072F"
    assert replies.identity_value([" WAVECOM MODEM"]) == "WAVECOM MODEM"


def test_urc_prefixes_tolerate_missing_space() -> None:
    assert urc_prefix("+CDS:25") == "+CDS:"
    assert urc_prefix('+CMTI: "SM",1') == "+CMTI:"
    assert urc_prefix("SMS Ready") == "SMS Ready"
    assert urc_prefix("+CMGL: 1,0,,20") is None


def test_profiles_by_name_and_detection() -> None:
    assert get_profile("quectel") is QUECTEL
    assert get_profile("auto") is GENERIC
    with pytest.raises(ValueError, match="unknown modem profile"):
        get_profile("nokia")
    assert detect_profile("SIMCOM_Ltd", "SIMCOM_SIM800L") is SIMCOM
    assert detect_profile("Quectel", "EC25") is QUECTEL
    assert detect_profile("huawei", "E3372") is HUAWEI
    assert detect_profile(None, "E1") is GENERIC
    assert SIMCOM.cmgs_timeout == 60
    assert QUECTEL.cmgs_timeout == 120
    assert HUAWEI.location_base == 0
    assert "AT^CURC=0" in HUAWEI.init_extra


def test_a_range_wider_than_any_parameter_is_capped() -> None:
    # Found by the at_replies fuzz target: spelled out, "(0-4000000000)" fills the memory.
    [group] = replies.ranges("(0-999999)")
    assert len(group) == replies.MAX_RANGE_VALUES
    assert min(group) == 0


@pytest.mark.parametrize("text", ["(²)", "(1-²),(³)", "²"])
def test_digits_int_cannot_read_are_not_numbers(text: str) -> None:
    # Found by the at_replies fuzz target: "²".isdigit() is True, int("²") raises.
    assert all(group <= {1} for group in replies.ranges(text))
    assert replies.registration("²,1", query=False) is None
    assert replies.registration("0,1,ab,²", query=True) == (Registration.HOME, None)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("2,1,0,1,0", (1, 1)),
        (" 2, 2, 0, 0, 0", (2, 0)),
        ("0,0,0,0,0", (0, 0)),
        ("2,1", None),
        ("2,x,0,1", None),
    ],
)
def test_cnmi_routing_reads_mt_and_ds(body: str, expected: tuple[int, int] | None) -> None:
    assert replies.cnmi_routing(body) == expected


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (['+CNUM: "","15551234567",145'], "+15551234567"),
        (['+CNUM: "Own number","+491701234567",145'], "+491701234567"),
        (['+CNUM: ,"07700900123",129'], "07700900123"),
        (
            ['+CNUM: "Voice","15550000001",145,4,0', '+CNUM: "Data","15550000002",145'],
            "+15550000001",
        ),
        ([], None),  # the SIM holds no number: a bare OK
        (['+CNUM: "",,'], None),
    ],
)
def test_own_number_from_cnum(lines: list[str], expected: str | None) -> None:
    assert replies.own_number(lines) == expected
