"""The pure rules of expected replies, and the ``[replies]`` section that answers them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.core.replies import ReplyMatcher, check_replies, choices, match
from gateway.errors import ConfigError, ValidationError
from tests.gateway.config.test_config import MINIMAL, write

REPLIES = {"C": "confirmed", "R": "reschedule", "X": "cancelled"}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("c ", "confirmed"),
        (" C.", "confirmed"),
        ("Confirmed!", "confirmed"),
        ("confirm", "confirmed"),
        ("RESCHEDULE", "reschedule"),
        ("rescheduled", "reschedule"),
        ("cancel", "cancelled"),
        ("x", "cancelled"),
    ],
)
def test_keys_meanings_and_their_stems_match(text: str, value: str) -> None:
    assert match(text, REPLIES) == value


@pytest.mark.parametrize("text", ["", "  ", "yes c", "conf", "I confirm", "cc", "?"])
def test_anything_else_does_not(text: str) -> None:
    assert match(text, REPLIES) is None


def test_a_key_wins_over_a_meaning_and_symbols_are_keys_too() -> None:
    assert match("r", {"R": "confirmed", "Y": "r"}) == "confirmed"
    assert match(" 👍 ", {"👍": "confirmed"}) == "confirmed"


def test_a_consent_keyword_is_never_an_answer() -> None:
    matcher = ReplyMatcher(lambda text: text.strip().casefold() == "stop")
    assert matcher.value("STOP", {"STOP": "cancelled"}) is None
    assert not matcher.may_answer(" stop")
    assert matcher.value("c", REPLIES) == "confirmed"


def test_keys_a_patient_cannot_tell_apart_are_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        check_replies({"C": "confirmed", "c.": "cancel"}, "messages[2].replies")
    assert refused.value.field == "messages[2].replies"
    check_replies(REPLIES, "replies")


def test_the_nudge_names_the_keys() -> None:
    assert choices(["C"]) == "C"
    assert choices(["C", "R"]) == "C or R"
    assert choices(["1", "2", "3"]) == "1, 2 or 3"


def test_the_replies_section_is_read_and_checked(tmp_path: Path) -> None:
    text = MINIMAL + (
        '[replies]\nunmatched_text = "Please reply {choices}."\n'
        '[replies.follow_ups]\nConfirmed = "Thank you"\n'
    )
    config = load_config(write(tmp_path, text))
    assert config.replies.unmatched_text == "Please reply {choices}."
    assert dict(config.replies.follow_ups) == {"confirmed": "Thank you"}
    assert load_config(write(tmp_path, MINIMAL)).replies.unmatched_text is None
    for bad, field in (
        ('[replies]\nunmatched_text = " "\n', "replies.unmatched_text"),
        ('[replies.follow_ups]\nconfirmed = ""\n', "replies.follow_ups.confirmed"),
        ('[replies]\nnudge = "x"\n', "replies.nudge"),
    ):
        with pytest.raises(ConfigError) as refused:
            load_config(write(tmp_path, MINIMAL + bad))
        assert refused.value.field == field
