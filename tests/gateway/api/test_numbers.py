"""E.164 normalisation: accepted forms, refused forms, and no number in any error."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from gateway.core.numbers import international_pattern, normalize
from gateway.errors import InvalidNumber


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("+15551234567", "1", "+15551234567"),
        ("+1 (555) 123-4567", "44", "+15551234567"),
        ("0044 20 7946 0018", "1", "+442079460018"),
        ("011 44 20 7946 0018", "1", "+442079460018"),  # NANP international prefix
        ("(555) 123-4567", "1", "+15551234567"),  # NANP: ten national digits
        ("1-555-123-4567", "1", "+15551234567"),  # NANP long-distance prefix
        ("020 7946 0018", "44", "+442079460018"),  # trunk 0 dropped
        ("0151.2345.6789", "49", "+4915123456789"),
        ("06 1234 5678", "39", "+390612345678"),  # Italy keeps its leading 0
        ("347 123 4567", "39", "+393471234567"),
        ("+49\t151 23456789", "1", "+4915123456789"),
        ("+44 (0) 20 7946 0958", "1", "+442079460958"),  # the "(0)" British habit
        ("+44 0 20 7946 0958", "1", "+442079460958"),
        ("+86 138 0013 8000", "1", "+8613800138000"),
        ("+682 12345", "1", "+68212345"),  # Cook Islands: five national digits
        ("7700 900123", "44", "+447700900123"),  # national, trunk 0 forgotten
    ],
)
def test_accepted_forms(raw: str, country: str, expected: str) -> None:
    assert normalize(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "country"),
    [
        ("", "1"),
        ("   ", "1"),
        ("CLINIC", "1"),  # alphanumeric recipient
        ("+1555CALLNOW", "1"),
        ("+1234567", "1"),  # 7 digits: too short
        ("+1234567890123456", "1"),  # 16 digits: too long
        ("+0123456789", "1"),  # country code cannot start with 0
        ("000123456789", "1"),
        ("0555123456", "1"),  # NANP: 0 is not a trunk prefix
        ("155512345", "1"),  # NANP: wrong length
        ("1555123456", "1"),  # NANP: area code cannot start with 1
        ("0207946001", ""),  # national but no default country
        ("+44 20 7946 0018 ext 2", "1"),
        ("+1+5551234567", "1"),
        ("+١٥٥٥١٢٣٤٥٦٧", "1"),  # non-ASCII digits
        ("0", "44"),
        ("+999123456789", "1"),  # no country has calling code 999
        ("+123456789012345", "1"),  # 15 digits, but 14 national digits are impossible for +1
        ("+44123456", "1"),  # too short for the United Kingdom
        ("+4420794609581234", "1"),  # 16 digits
    ],
)
def test_refused_forms_name_the_field_and_hide_the_number(raw: str, country: str) -> None:
    with pytest.raises(InvalidNumber) as caught:
        normalize(raw, country, field="messages[2].to")
    assert caught.value.field == "messages[2].to"
    assert caught.value.code == "invalid_number"
    digits = "".join(ch for ch in raw if ch.isdigit())
    if len(digits) >= 4:
        assert digits not in "".join(ch for ch in caught.value.message if ch.isdigit())


def test_default_field_is_to() -> None:
    with pytest.raises(InvalidNumber) as caught:
        normalize("nope", "1")
    assert caught.value.field == "to"


def test_bad_default_country_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="default_country"):
        normalize("+15551234567", "01")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("+999123456789", "country calling code"),
        ("+44123456", "local only"),  # a UK number without its area code
        ("+4420794609581", "too long"),
    ],
)
def test_an_impossible_number_is_refused_saying_why(raw: str, why: str) -> None:
    with pytest.raises(InvalidNumber, match=why) as caught:
        normalize(raw, "1")
    assert caught.value.code == "invalid_number"


def test_the_schema_pattern_admits_every_countrys_example_mobile_number() -> None:
    """The pattern the API document gives ``to`` must not refuse what ``normalize`` takes:
    libphonenumber's example mobile number of every region, with "+" and with "00"."""
    pattern = re.compile(international_pattern())
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
        if example is None:
            continue
        e164 = normalize(phonenumbers.format_number(example, PhoneNumberFormat.E164), "")
        assert pattern.fullmatch(e164), (region, e164)
        assert pattern.fullmatch("00" + e164[1:]), region
        checked += 1
    assert checked > 200
    for refused in ("+0123456789", "+1 555 123 4567", "+1055512345", "+44", "+4477009001234567"):
        assert not pattern.fullmatch(refused), refused
