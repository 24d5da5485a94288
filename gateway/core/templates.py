"""Message templates: ``{variable}`` placeholders with an optional filter, rendered at intake.

The syntax is small on purpose, so a clinic's texts cannot run code and every error
can be named at creation: ``{name}`` inserts a variable, ``{name|filter}`` inserts it
through one filter, ``{{`` and ``}}`` stand for literal braces. Variable names are
ASCII letters, digits and ``_``, not starting with a digit. Filters:

- ``upper``, ``lower``, ``capitalize``: letter case (any script);
- ``first``: the first word (a first name from a full name);
- ``date``: an ISO 8601 date (``2026-12-08``, or a date-time) as ``08/12/2026``;
- ``time``: an ISO 8601 time or date-time as ``09:30``.

The rendered text, not the template, is what a message's segments are counted on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Final

from gateway.errors import TemplateInvalid, TemplateVariableMissing, ValidationError

MAX_TEMPLATE_NAME_CHARS: Final = 64
MAX_VARIABLE_CHARS: Final = 500  # one value; the rendered text is limited by segments anyway
TEMPLATE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_VARIABLE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _date(value: str) -> str:
    return _iso_date(value).strftime("%d/%m/%Y")


def _time(value: str) -> str:
    return _iso_time(value).strftime("%H:%M")


def _iso_date(value: str) -> date:
    try:
        return datetime.fromisoformat(value).date()
    except ValueError:
        raise ValueError("an ISO 8601 date such as 2026-12-08") from None


def _iso_time(value: str) -> time:
    for parse in (lambda v: datetime.fromisoformat(v).time(), time.fromisoformat):
        try:
            return parse(value)
        except ValueError:
            continue
    raise ValueError("an ISO 8601 time such as 09:30")


def _first(value: str) -> str:
    words = value.split()
    return words[0] if words else ""


FILTERS: Final[Mapping[str, Callable[[str], str]]] = {
    "upper": str.upper,
    "lower": str.lower,
    "capitalize": str.capitalize,
    "first": _first,
    "date": _date,
    "time": _time,
}


@dataclass(frozen=True, slots=True)
class Slot:
    variable: str
    filter: str | None


Piece = str | Slot


@dataclass(frozen=True, slots=True)
class ParsedTemplate:
    pieces: tuple[Piece, ...]

    @property
    def variables(self) -> tuple[str, ...]:
        """Each variable once, in order of first use."""
        return tuple(dict.fromkeys(p.variable for p in self.pieces if isinstance(p, Slot)))


def parse_template(body: str, field: str = "body") -> ParsedTemplate:
    """The template's pieces; TemplateInvalid names the first problem and its position."""
    pieces: list[Piece] = []
    text: list[str] = []
    i, end = 0, len(body)
    while i < end:
        char = body[i]
        if char in "{}" and body.startswith(char * 2, i):
            text.append(char)
            i += 2
            continue
        if char == "}":
            raise TemplateInvalid(
                f"unbalanced brace: '}}' at position {i} closes nothing", field=field
            )
        if char != "{":
            text.append(char)
            i += 1
            continue
        close = body.find("}", i + 1)
        opened = body.find("{", i + 1)
        if close < 0 or 0 <= opened < close:
            raise TemplateInvalid(
                f"unbalanced brace: '{{' at position {i} is not closed", field=field
            )
        pieces.extend(["".join(text)] if text else [])
        text = []
        pieces.append(_slot(body[i + 1 : close], i, field))
        i = close + 1
    if text:
        pieces.append("".join(text))
    return ParsedTemplate(tuple(pieces))


def _slot(inner: str, position: int, field: str) -> Slot:
    name, bar, filter_name = inner.partition("|")
    name, filter_name = name.strip(), filter_name.strip()
    if not _VARIABLE.fullmatch(name):
        raise TemplateInvalid(
            f"bad variable name at position {position}: letters, digits and _ only, "
            "not starting with a digit",
            field=field,
        )
    if bar and filter_name not in FILTERS:
        raise TemplateInvalid(
            f"unknown filter {filter_name[:32]!r} at position {position} "
            f"(known: {', '.join(FILTERS)})",
            field=field,
        )
    return Slot(name, filter_name if bar else None)


def render(parsed: ParsedTemplate, variables: Mapping[str, str], prefix: str = "") -> str:
    """The text with every slot filled; a variable the template uses and the request
    lacks raises TemplateVariableMissing naming it (field ``variables.NAME``)."""
    out: list[str] = []
    for piece in parsed.pieces:
        if isinstance(piece, str):
            out.append(piece)
            continue
        field = f"{prefix}variables.{piece.variable}"
        value = variables.get(piece.variable)
        if value is None:
            raise TemplateVariableMissing(
                f"the template needs variable {piece.variable!r}", field=field
            )
        if piece.filter is not None:
            try:
                value = FILTERS[piece.filter](value)
            except ValueError as exc:
                raise ValidationError(
                    f"variable {piece.variable!r} must be {exc} for filter {piece.filter!r}",
                    field=field,
                ) from None
        out.append(value)
    return "".join(out)


def variables_of(value: object, prefix: str) -> dict[str, str]:
    """A request's ``variables``: an object of strings or numbers (numbers as written)."""
    field = f"{prefix}variables"
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError("variables must be a JSON object", field=field)
    out: dict[str, str] = {}
    for name, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ValidationError(
                "each variable must be a string or a number", field=f"{field}.{name[:64]}"
            )
        text = item if isinstance(item, str) else str(item)
        if len(text) > MAX_VARIABLE_CHARS:
            raise ValidationError(
                f"a variable holds at most {MAX_VARIABLE_CHARS} characters",
                field=f"{field}.{name[:64]}",
            )
        out[name] = text
    return out
