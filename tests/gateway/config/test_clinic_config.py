"""``[categories.NAME]`` and ``[clinic]``: defaults, and a bad key named in the error."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gateway.config import DEFAULT_CATEGORIES, Config, DailyWindow, parse_config
from gateway.errors import ConfigError

BASE = {
    "store": {"data_dir": "data"},
    "modems": [{"name": "alpha", "simulate": "generic"}],
}


def load(**sections: Any) -> Config:
    return parse_config({**BASE, **sections}, base_dir=Path("/srv"), path=Path("/srv/x.toml"))


def refused(**sections: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(**sections)
    return caught.value


def test_the_four_categories_exist_by_default_and_honour_opt_out() -> None:
    config = load()
    assert sorted(config.categories) == ["care", "marketing", "reminder", "survey"]
    assert all(c.opt_out and c.quiet_hours is None for c in config.categories.values())
    assert config.categories == DEFAULT_CATEGORIES
    assert config.clinic.auto_reply.enabled is False


def test_a_category_is_overridden_or_added() -> None:
    config = load(
        categories={
            "marketing": {"quiet_hours": "20:00-08:00", "urgent_in_quiet_hours": False},
            "lab-results": {"opt_out": False},
        },
        clinic={"timezone": "America/Chicago"},
    )
    marketing = config.categories["marketing"]
    assert marketing.quiet_hours == DailyWindow(20 * 60, 8 * 60)
    assert marketing.quiet_hours.crosses_midnight
    assert marketing.urgent_in_quiet_hours is False
    assert config.categories["lab-results"].opt_out is False
    assert "care" in config.categories


@pytest.mark.parametrize(
    ("sections", "field"),
    [
        ({"categories": {"marketing": {"quiet": "20:00-08:00"}}}, "categories.marketing.quiet"),
        (
            {"categories": {"survey": {"quiet_hours": "8pm-8am"}}, "clinic": {"timezone": "UTC"}},
            "categories.survey.quiet_hours",
        ),
        (
            {
                "categories": {"survey": {"quiet_hours": "20:00-20:00"}},
                "clinic": {"timezone": "UTC"},
            },
            "categories.survey.quiet_hours",
        ),
        ({"categories": {"Bad Name": {}}}, "categories.Bad Name"),
        ({"categories": {"survey": {"quiet_hours": "20:00-08:00"}}}, "clinic.timezone"),
        ({"clinic": {"timezone": "Mars/Olympus"}}, "clinic.timezone"),
        ({"clinic": {"timezone": "UTC", "holidays": ["25/12/2026"]}}, "clinic.holidays[0]"),
        (
            {"clinic": {"timezone": "UTC", "office_hours": {"mon": "17:00-08:00"}}},
            "clinic.office_hours.mon",
        ),
        (
            {"clinic": {"timezone": "UTC", "office_hours": {"mo": "08:00-17:00"}}},
            "clinic.office_hours.mo",
        ),
        ({"clinic": {"office_hours": {"mon": "08:00-17:00"}}}, "clinic.timezone"),
        (
            {"clinic": {"timezone": "UTC", "auto_reply": {"enabled": True}}},
            "clinic.auto_reply.text",
        ),
        (
            {"clinic": {"timezone": "UTC", "auto_reply": {"enabled": True, "text": "closed"}}},
            "clinic.office_hours",
        ),
    ],
)
def test_a_bad_key_is_named(sections: dict[str, Any], field: str) -> None:
    assert refused(**sections).field == field


def test_the_clinic_section() -> None:
    config = load(
        clinic={
            "name": "Maple Street Clinic",
            "timezone": "Europe/Madrid",
            "office_hours": {"mon": "08:00-17:00", "sat": ["09:00-12:00", "16:00-18:00"]},
            "holidays": ["2026-12-25"],
            "auto_reply": {"enabled": True, "text": "We are closed; call 911 if urgent."},
        }
    )
    clinic = config.clinic
    assert clinic.name == "Maple Street Clinic"
    assert str(clinic.zone) == "Europe/Madrid"
    assert clinic.office_hours[0] == (DailyWindow(480, 1020),)
    assert clinic.office_hours[1] == ()
    assert clinic.office_hours[5] == (DailyWindow(540, 720), DailyWindow(960, 1080))
    assert clinic.holidays == frozenset({date(2026, 12, 25)})
    assert clinic.auto_reply.text == "We are closed; call 911 if urgent."
