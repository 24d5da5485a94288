"""Each fuzz target under the bounded ``fuzz`` profile (see targets.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from tests.fuzz.targets import TARGETS, Target


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_fuzz_target(target: Target) -> None:
    run = settings(settings.get_profile("fuzz"))(given(target.strategy)(target.check))
    run()
