"""A scenario's figures as a table: each contender's median of its runs, and its ratio."""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

BASELINE = "smsgw"


@dataclass
class Row:
    contender: str
    runs: list[dict[str, float]] = field(default_factory=list)
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)  # os.getloadavg() after its runs
    errors: list[str] = field(default_factory=list)

    def median(self, metric: str) -> float:
        values = [run[metric] for run in self.runs if metric in run]
        return statistics.median(values) if values else math.nan


def _figure(value: float) -> str:
    if math.isnan(value):
        return "failed"
    if math.isinf(value):
        return "never"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _ratio(value: float, base: float) -> str:
    if math.isnan(value) or math.isnan(base) or base == 0:
        return "-"
    if math.isinf(value):
        return "-" if math.isinf(base) else "never"
    if math.isinf(base):
        return "0"
    return f"{value / base:.3g}×"


def render(title: str, metrics: Sequence[str], rows: Sequence[Row], command: str) -> str:
    """Markdown, so the same text goes to the terminal and into BENCHMARKS.md."""
    base = next((r for r in rows if r.contender == BASELINE), None)
    header = ["contender"]
    for metric in metrics:
        header += [metric, "÷ smsgw"]
    header += ["runs", "load avg (1/5/15 min)"]
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.contender]
        for metric in metrics:
            value = row.median(metric)
            cells += [_figure(value), _ratio(value, base.median(metric)) if base else "-"]
        cells += [str(len(row.runs)), " ".join(f"{x:.2f}" for x in row.load)]
        lines.append("| " + " | ".join(cells) + " |")
    for row in rows:
        lines += [f"- {row.contender}: {error}" for error in row.errors]
    lines += ["", f"`{command}`", ""]
    return "\n".join(lines)


def machine() -> str:
    """The machine line BENCHMARKS.md records beside the figures."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} CPUs ({cpu}), {mem_kib / 1024**2:.1f} GiB; "
        f"Python {platform.python_version()}; load average {load}"
    )
