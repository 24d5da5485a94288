"""Which texts are consent keywords: exact words after trimming, case and punctuation."""

from __future__ import annotations

import pytest

from gateway.config import ConsentConfig
from gateway.consent.gate import blocks, every_category
from gateway.consent.keywords import ConsentKeyword, KeywordAction, parse_keyword
from gateway.consent.texts import confirmation_text

DEFAULTS = ConsentConfig()
STOP = ConsentKeyword(KeywordAction.STOP)
START = ConsentKeyword(KeywordAction.START)
HELP = ConsentKeyword(KeywordAction.HELP)


@pytest.mark.parametrize(
    "text",
    ["STOP", "stop", "  Stop.  ", "STOP!!", "\tstop\n", "Stop 🛑", "STOPALL", "Unsubscribe",
     "cancel", "END", "quit", "OptOut", "opt out", "Opt-Out", "OPT  OUT", "revoke", "stop all"],
)  # fmt: skip
def test_stop_words_and_their_variants(text: str) -> None:
    assert parse_keyword(text, DEFAULTS) == STOP


@pytest.mark.parametrize("text", ["START", "start!", "Unstop", " yes ", "YES."])
def test_start_words(text: str) -> None:
    assert parse_keyword(text, DEFAULTS) == START


@pytest.mark.parametrize("text", ["HELP", "help?", "Info"])
def test_help_words(text: str) -> None:
    assert parse_keyword(text, DEFAULTS) == HELP


@pytest.mark.parametrize(
    "text",
    [
        "please don't stop my meds",
        "Stop by the clinic tomorrow?",
        "don't stop",
        "stopping",
        "STOP TEXTING",  # not a category name
        "stop survey please",
        "",
        "   ",
        "?!",
        "S T O P",
        "Yes, I will be there",
    ],
)
def test_sentences_that_contain_a_keyword_are_not_one(text: str) -> None:
    assert parse_keyword(text, DEFAULTS) is None


def test_stop_with_a_configured_category_stops_that_category_only() -> None:
    categories = {"care", "survey", "marketing"}
    assert parse_keyword("STOP SURVEY", DEFAULTS, categories) == ConsentKeyword(
        KeywordAction.STOP, "survey"
    )
    assert parse_keyword("stop marketing.", DEFAULTS, categories) == ConsentKeyword(
        KeywordAction.STOP, "marketing"
    )
    assert parse_keyword("START survey", DEFAULTS, categories) == ConsentKeyword(
        KeywordAction.START, "survey"
    )
    assert parse_keyword("STOP SURVEY", DEFAULTS, {"care"}) is None
    assert parse_keyword("unsubscribe survey", DEFAULTS, categories) == ConsentKeyword(
        KeywordAction.STOP, "survey"
    )


def test_configured_keywords_in_other_languages() -> None:
    spanish = ConsentConfig(
        stop_keywords=("ALTO", "PARAR", "BAJA"), start_keywords=("ALTA",), help_keywords=("AYUDA",)
    )
    assert parse_keyword("alto", spanish) == STOP
    assert parse_keyword("¡Baja!", spanish) == STOP
    assert parse_keyword("Alta", spanish) == START
    assert parse_keyword("ayuda", spanish) == HELP
    assert parse_keyword("STOP", spanish) == STOP  # the built-in ones stay
    assert parse_keyword("alto", DEFAULTS) is None


def test_confirmations_name_the_clinic_and_the_category() -> None:
    stop = confirmation_text(STOP, DEFAULTS, "Northside Clinic")
    assert stop.startswith("Northside Clinic:")
    assert "START" in stop
    survey = confirmation_text(ConsentKeyword(KeywordAction.STOP, "survey"), DEFAULTS, "NC")
    assert "survey" in survey
    assert "START" in confirmation_text(HELP, DEFAULTS, "NC")
    assert "STOP" in confirmation_text(START, DEFAULTS, "NC")
    custom = ConsentConfig(help_text="{clinic} {oops} call 555")
    assert confirmation_text(HELP, custom, "NC") == "NC {oops} call 555"


def test_the_gate_blocks_only_what_was_stopped() -> None:
    def survey_only_optional(category: str) -> bool:
        return category != "urgent-recall"

    assert blocks(frozenset({None}), "care", every_category)
    assert blocks(frozenset({"survey"}), "survey", every_category)
    assert not blocks(frozenset({"survey"}), "care", every_category)
    assert not blocks(frozenset(), "care", every_category)
    assert not blocks(frozenset({None}), "urgent-recall", survey_only_optional)
    assert blocks(frozenset({None}), "reminder", survey_only_optional)
