"""``python -m bench.peers``: every scenario against smsgw, Gammu SMSD and SMS Server Tools."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.peers.contender import Contender
from bench.peers.gammu import GammuSmsd
from bench.peers.install import ensure_installed
from bench.peers.scenarios import QUICK, SCENARIOS, Scenario, Sizes
from bench.peers.smsgw import Smsgw
from bench.peers.smstools import SmsTools
from bench.peers.table import Row, machine, render

CONTENDERS: dict[str, Callable[[], Contender]] = {
    "smsgw": Smsgw,
    "gammu": lambda: GammuSmsd(tuned=False),
    "gammu-tuned": lambda: GammuSmsd(tuned=True),
    "smstools": lambda: SmsTools(tuned=False),
    "smstools-tuned": lambda: SmsTools(tuned=True),
}


async def measure(
    scenario: Scenario, kinds: list[str], runs: int, sizes: Sizes, keep: bool
) -> list[Row]:
    rows = []
    for kind in kinds:
        row = Row(CONTENDERS[kind]().name)
        for _ in range(runs):
            root = Path(tempfile.mkdtemp(prefix=f"smsgw-peers-{scenario.name}-{kind}-"))
            try:
                row.runs.append(await scenario.run(CONTENDERS[kind](), root, sizes))
            except (RuntimeError, TimeoutError, OSError) as error:
                row.errors.append(f"{type(error).__name__}: {error}")
                keep = True
            finally:
                if not keep:
                    shutil.rmtree(root, ignore_errors=True)
        row.load = os.getloadavg()
        rows.append(row)
    return rows


async def main(args: argparse.Namespace) -> int:
    sizes = QUICK if args.quick else Sizes()
    chosen = [s for s in SCENARIOS if s.name in args.scenarios]
    for scenario in chosen:
        rows = await measure(scenario, args.contenders, args.runs, sizes, args.keep)
        command = " ".join(
            [".venv/bin/python -m bench.peers", f"--scenarios {scenario.name}",
             f"--runs {args.runs}", *(["--quick"] if args.quick else [])]
        )  # fmt: skip
        print(render(scenario.title, scenario.metrics, rows, command), flush=True)
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    names = [s.name for s in SCENARIOS]
    parser.add_argument("--scenarios", nargs="+", choices=names, default=names)
    parser.add_argument("--contenders", nargs="+", choices=list(CONTENDERS),
                        default=list(CONTENDERS))  # fmt: skip
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--quick", action="store_true", help="small counts, while building")
    parser.add_argument("--keep", action="store_true", help="keep each run's directory and logs")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    if any(kind != "smsgw" for kind in arguments.contenders):
        ensure_installed()
    print(f"# python -m bench.peers {shlex.join(sys.argv[1:])}".rstrip())
    print(machine())
    sys.exit(asyncio.run(main(arguments)))
