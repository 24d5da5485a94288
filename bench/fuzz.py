"""The fuzz targets of the test suite (tests/fuzz/targets.py), run for longer with fresh seeds.

The suite runs each target for a few hundred cases with the same seed every time,
so CI stays quick and repeatable; this runs each for ``--seconds``, in batches with a
new random seed each, and prints per target the cases run (shrinking included) and
the findings: each distinct failure once, with the smallest input Hypothesis found.

Run from the repository root: ``.venv/bin/python bench/fuzz.py --seconds 60``.
The exit status is 1 when anything was found.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

from tests.fuzz.targets import TARGETS, Target

BATCH = 200  # cases per seed: a slow target still stops near its time


def run(target: Target, seconds: float, rng: random.Random) -> tuple[int, dict[str, str]]:
    cases = 0
    findings: dict[str, str] = {}

    def counted(value: Any) -> None:
        nonlocal cases
        cases += 1
        target.check(value)

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        test = settings(
            max_examples=BATCH,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(given(target.strategy)(counted))
        try:
            seed(rng.getrandbits(64))(test)()
        except Exception as exc:  # a finding: keep it and go on with a new seed
            what = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            notes = " ".join(" ".join(getattr(exc, "__notes__", [])).split())
            findings.setdefault(what, notes[:300])
    return cases, findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per target")
    parser.add_argument("--target", action="append", help="only these (default: all)")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    chosen = [t for t in TARGETS if not args.target or t.name in args.target]
    print(f"{'target':<14} {'cases':>9} {'seconds':>8} {'findings':>8}")
    found = 0
    for target in chosen:
        began = time.monotonic()
        cases, findings = run(target, args.seconds, rng)
        found += len(findings)
        print(f"{target.name:<14} {cases:>9} {time.monotonic() - began:>8.0f} {len(findings):>8}")
        for what, example in findings.items():
            print(f"    {what}\n    {example}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
