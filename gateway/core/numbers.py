"""Phone numbers to E.164, the one form the store, routing and the driver see.

Parsing and the plausibility check are the ``phonenumbers`` library's (Google's
libphonenumber metadata): it knows every country's calling code, trunk prefix and
possible lengths, and habits such as "+44 (0) 20 …". We ask only whether a number
is *possible* (its length fits its country), not whether its range is assigned:
fictional ranges (+1 555 01xx) and freshly opened ones must still go out, and the
carrier is the judge of assignment. Alphanumeric recipients are refused: a SIM can
only send to numbers (``phonenumbers`` would read "1-800-FLOWERS" as digits).

``default_country`` is a calling code ("1", "44"); a national number takes its main
region. Errors never repeat the number: messages reach logs and clients' error reports.
"""

from __future__ import annotations

import functools
import re
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberFormat, ValidationResult

from gateway.errors import InvalidNumber

NANP_COUNTRY: Final = "1"
NANP_INTERNATIONAL_PREFIX: Final = "011"
NON_GEOGRAPHIC_REGION: Final = "001"  # libphonenumber's region of +800, +882, ...

_SEPARATORS: Final = re.compile(r"[\s.()\-]")
_DIGITS: Final = re.compile(r"[0-9]+")
_COUNTRY: Final = re.compile(r"[1-9][0-9]{0,2}")
_NANP_NATIONAL: Final = re.compile(r"[2-9][0-9]{9}")

_WHY_IMPOSSIBLE: Final = {
    ValidationResult.INVALID_COUNTRY_CODE: "no country has this country calling code",
    ValidationResult.TOO_SHORT: "number is too short for its country",
    ValidationResult.TOO_LONG: "number is too long for its country",
    ValidationResult.INVALID_LENGTH: "number has a length its country does not use",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "number is local only; add the area code",
}
_WHY_UNPARSABLE: Final = {
    NumberParseException.INVALID_COUNTRY_CODE: "no country has this country calling code",
    NumberParseException.TOO_SHORT_NSN: "number is too short for its country",
    NumberParseException.TOO_SHORT_AFTER_IDD: "number is too short for its country",
    NumberParseException.TOO_LONG: "number is too long for its country",
}


def normalize(raw: str, default_country: str, *, field: str = "to") -> str:
    """``raw`` in E.164 ("+" and up to 15 digits); national numbers take ``default_country``.

    ``default_country`` is a calling code without "+" ("1", "44", "49"), or ""
    to accept international numbers only. Raises InvalidNumber naming ``field``
    and saying why, never repeating the number.
    """
    if default_country and not _COUNTRY.fullmatch(default_country):
        raise ValueError("default_country must be a calling code of 1-3 digits")
    compact = _SEPARATORS.sub("", raw)
    if not compact:
        raise InvalidNumber("number is empty", field=field)
    international = _international_digits(compact, default_country)
    if international is not None:
        _require_digits(international, field)
        text, region = "+" + international, None
    else:
        _require_digits(compact, field)
        if not default_country:
            raise InvalidNumber(
                "national number given but no default country is set; use +<country code>",
                field=field,
            )
        text, region = compact, phonenumbers.region_code_for_country_code(int(default_country))
    if text.startswith("+0"):
        raise InvalidNumber("country code cannot start with 0", field=field)
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        why = _WHY_UNPARSABLE.get(exc.error_type, "not a phone number")
        raise InvalidNumber(why, field=field) from None
    verdict = phonenumbers.is_possible_number_with_reason(number)
    if verdict != ValidationResult.IS_POSSIBLE:
        raise InvalidNumber(_WHY_IMPOSSIBLE.get(verdict, "not a possible number"), field=field)
    if number.country_code == int(NANP_COUNTRY) and not _NANP_NATIONAL.fullmatch(
        "0" * bool(number.italian_leading_zero) + str(number.national_number)
    ):
        # The library checks NANP lengths only; an area code never starts with 0 or 1.
        raise InvalidNumber(
            "a +1 number has ten digits after the 1, the first of them 2-9", field=field
        )
    return str(phonenumbers.format_number(number, PhoneNumberFormat.E164))


@functools.cache
def international_pattern() -> str:
    """A regular expression for the international numbers ``normalize`` accepts, as far
    as a pattern can say it: "+" or "00", a calling code, and a national number of a
    length libphonenumber's metadata allows for it (NANP: ten digits, the first 2-9).
    For the API's schema, so that fuzzers and client generators meet the check; the
    check itself stays ``normalize``."""
    by_lengths: dict[str, list[str]] = {}  # codes grouped by what follows them: a short pattern
    for code, regions in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()):
        if code == int(NANP_COUNTRY):
            by_lengths.setdefault("[2-9][0-9]{9}", []).append(str(code))
            continue
        lengths: set[int] = set()
        for region in regions:
            metadata = (
                PhoneMetadata.metadata_for_nongeo_region(code)
                if region == NON_GEOGRAPHIC_REGION
                else PhoneMetadata.metadata_for_region(region)
            )
            if metadata is not None and metadata.general_desc is not None:
                lengths.update(n for n in metadata.general_desc.possible_length if n > 1)
        if lengths:
            by_lengths.setdefault(_lengths(sorted(lengths)), []).append(str(code))
    branches = [f"({'|'.join(codes)}){rest}" for rest, codes in by_lengths.items()]
    return rf"^(\+|00)({'|'.join(branches)})$"


def _lengths(lengths: list[int]) -> str:
    """A national number of the shortest to the longest of ``lengths`` (some start with 0:
    Benin, Italy). A range, not each length: the pattern stays short enough for fuzzers
    to generate from quickly, and the check proper is libphonenumber's."""
    low, high = lengths[0], lengths[-1]
    return f"[0-9]{{{low}}}" if low == high else f"[0-9]{{{low},{high}}}"


def _international_digits(compact: str, default_country: str) -> str | None:
    """The digits after an international prefix ("+", "00", NANP's "011"), or None."""
    if compact.startswith("+"):
        return compact[1:]
    if compact.startswith("00"):
        return compact[2:]
    if default_country == NANP_COUNTRY and compact.startswith(NANP_INTERNATIONAL_PREFIX):
        return compact[len(NANP_INTERNATIONAL_PREFIX) :]
    return None


def _require_digits(text: str, field: str) -> None:
    if _DIGITS.fullmatch(text):
        return
    if any(ch.isalpha() for ch in text):
        raise InvalidNumber("alphanumeric recipients are not supported", field=field)
    raise InvalidNumber(
        "number may hold only digits, a leading + and separators (space . - ( ))",
        field=field,
    )
