"""``[consent]``: extra keywords and the confirmation texts, each mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import DEFAULT_STOP_TEXT, load_config
from gateway.errors import ConfigError

from .test_config import EXAMPLE, MINIMAL, write


def test_defaults_without_a_consent_table(tmp_path: Path) -> None:
    consent = load_config(write(tmp_path, MINIMAL)).consent
    assert consent.stop_keywords == ()
    assert consent.stop_text == DEFAULT_STOP_TEXT
    assert "{clinic}" in consent.help_text


def test_keywords_and_texts_are_read(tmp_path: Path) -> None:
    text = MINIMAL + '[consent]\nstop_keywords = ["ALTO", "baja"]\nhelp_text = "Call us"\n'
    consent = load_config(write(tmp_path, text)).consent
    assert consent.stop_keywords == ("ALTO", "baja")
    assert consent.help_text == "Call us"
    assert load_config(EXAMPLE).consent.stop_keywords == ("ALTO", "PARAR", "BAJA")


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ('stop_keywords = ["ALTO", " "]', "consent.stop_keywords[1]"),
        ('stop_keywords = ["ALTO"]\nstart_keywords = ["alto"]', "consent.start_keywords[0]"),
        ('stop_text = "  "', "consent.stop_text"),
        ("help_keywords = [1]", "consent.help_keywords[0]"),
        ('stop_word = "ALTO"', "consent.stop_word"),
    ],
)
def test_each_mistake_names_its_field(tmp_path: Path, table: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, MINIMAL + "[consent]\n" + table + "\n"))
    assert info.value.field == field
