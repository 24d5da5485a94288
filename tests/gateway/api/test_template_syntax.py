"""The template language: slots, filters, literal braces, and errors named where they are."""

from __future__ import annotations

import pytest

from gateway.core.templates import parse_template, render, variables_of
from gateway.errors import TemplateInvalid, TemplateVariableMissing, ValidationError


def test_filters_and_literal_braces_render() -> None:
    parsed = parse_template(
        "{{code}} {name|first} {name|upper} {city|capitalize} {when|date} {when|time}"
    )
    assert parsed.variables == ("name", "city", "when")
    text = render(
        parsed, {"name": "José García", "city": "ñuñoa", "when": "2026-03-01T08:05:00+01:00"}
    )
    assert text == "{code} José JOSÉ GARCÍA Ñuñoa 01/03/2026 08:05"
    assert render(parse_template("{t|time}"), {"t": "17:45"}) == "17:45"
    assert render(parse_template("{n|lower}"), {"n": "ÁNGEL"}) == "ángel"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("Hi {name", "'{' at position 3 is not closed"),
        ("Hi {na{me}", "'{' at position 3 is not closed"),
        ("Hi name}", "'}' at position 7 closes nothing"),
        ("{x|bold}", "unknown filter 'bold' at position 0"),
        ("{}", "bad variable name at position 0"),
        ("{first name}", "bad variable name"),
    ],
)
def test_a_broken_template_names_its_problem(body: str, words: str) -> None:
    with pytest.raises(TemplateInvalid) as caught:
        parse_template(body)
    assert words in caught.value.message
    assert caught.value.code == "template_invalid"


def test_a_missing_variable_is_named_with_its_field() -> None:
    with pytest.raises(TemplateVariableMissing) as caught:
        render(parse_template("{a} {b}"), {"a": "1"}, "messages[2].")
    assert caught.value.field == "messages[2].variables.b"
    assert caught.value.code == "template_variable_missing"


def test_a_value_a_filter_cannot_read_names_the_variable() -> None:
    with pytest.raises(ValidationError) as caught:
        render(parse_template("{d|date}"), {"d": "next Tuesday"})
    assert caught.value.field == "variables.d"


def test_variables_take_strings_and_numbers_only() -> None:
    assert variables_of({"n": 3, "s": "x", "f": 1.5}, "") == {"n": "3", "s": "x", "f": "1.5"}
    for bad in ({"b": True}, {"l": [1]}, {"z": None}):
        with pytest.raises(ValidationError):
            variables_of(bad, "")
    with pytest.raises(ValidationError):
        variables_of(["a"], "")
