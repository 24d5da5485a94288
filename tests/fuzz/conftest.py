"""The ``fuzz`` profile: each target bounded to a few seconds in the suite, the same
cases on every run (``bench/fuzz.py`` runs them longer, with fresh seeds)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz",
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
