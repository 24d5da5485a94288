"""Phone numbers to E.164, the one form the store, routing and the driver see.

``normalize`` is deliberately shallow: it knows the international prefixes
("+", "00", and "011" when the default country is in North America), the trunk
prefix "0", the North American Numbering Plan (where a national number is ten
digits and "1" is the long-distance prefix) and Italy (where the leading 0
belongs to the number). It does not know any country's
numbering plan: a number of the right length with a valid-looking country code
is accepted even if no such range exists; the carrier rejects it at send time.
Alphanumeric recipients are refused: a SIM can only send to numbers.

Errors never repeat the number: messages reach logs and clients' error reports.
"""

from __future__ import annotations

import re
from typing import Final

from gateway.errors import InvalidNumber

E164_MIN_DIGITS: Final = 8  # country code included; shorter are short codes or typos
E164_MAX_DIGITS: Final = 15  # ITU-T E.164 maximum
NANP_COUNTRY: Final = "1"
NANP_INTERNATIONAL_PREFIX: Final = "011"
# Countries whose national numbers keep their leading 0 after the country code.
_KEEPS_LEADING_ZERO: Final = frozenset({"39", "378", "379"})  # Italy, San Marino, Vatican

_SEPARATORS: Final = re.compile(r"[\s.()\-]")
_DIGITS: Final = re.compile(r"[0-9]+")
_COUNTRY: Final = re.compile(r"[1-9][0-9]{0,2}")


def normalize(raw: str, default_country: str, *, field: str = "to") -> str:
    """``raw`` as "+" and 8..15 digits; national numbers take ``default_country``.

    ``default_country`` is a calling code without "+" ("1", "44", "49"), or ""
    to accept international numbers only. Raises InvalidNumber naming ``field``.
    """
    if default_country and not _COUNTRY.fullmatch(default_country):
        raise ValueError("default_country must be a calling code of 1-3 digits")
    compact = _SEPARATORS.sub("", raw)
    if not compact:
        raise InvalidNumber("number is empty", field=field)
    if compact.startswith("+"):
        digits = compact[1:]
        _require_digits(digits, field)
    elif compact.startswith("00"):
        digits = compact[2:]
        _require_digits(digits, field)
    elif default_country == NANP_COUNTRY and compact.startswith(NANP_INTERNATIONAL_PREFIX):
        digits = compact[len(NANP_INTERNATIONAL_PREFIX) :]
        _require_digits(digits, field)
    else:
        _require_digits(compact, field)
        digits = _national(compact, default_country, field)
    if digits.startswith("0"):
        raise InvalidNumber("country code cannot start with 0", field=field)
    if not E164_MIN_DIGITS <= len(digits) <= E164_MAX_DIGITS:
        raise InvalidNumber(
            f"number must have {E164_MIN_DIGITS} to {E164_MAX_DIGITS} digits "
            "including the country code",
            field=field,
        )
    return "+" + digits


def _require_digits(text: str, field: str) -> None:
    if _DIGITS.fullmatch(text):
        return
    if any(ch.isalpha() for ch in text):
        raise InvalidNumber("alphanumeric recipients are not supported", field=field)
    raise InvalidNumber(
        "number may hold only digits, a leading + and separators (space . - ( ))",
        field=field,
    )


def _national(digits: str, default_country: str, field: str) -> str:
    """Country code + national significant number for a number dialled without one."""
    if not default_country:
        raise InvalidNumber(
            "national number given but no default country is set; use +<country code>",
            field=field,
        )
    if default_country == NANP_COUNTRY:
        if len(digits) == 10 and digits[0] not in "01":
            return NANP_COUNTRY + digits
        if len(digits) == 11 and digits[0] == "1" and digits[1] not in "01":
            return digits
        raise InvalidNumber("national number must have 10 digits (area code first)", field=field)
    if default_country in _KEEPS_LEADING_ZERO:
        return default_country + digits
    if digits.startswith("0") and len(digits) > 1:
        return default_country + digits[1:]
    raise InvalidNumber(
        "national number must start with the trunk prefix 0; otherwise use +<country code>",
        field=field,
    )
