"""A run's measurements as rows and goals, printed as a Markdown table.

Each scenario ran several rounds, alternating with its reference. A row shows medians
over the rounds (requests/s, p50, p99) and the sum of errors; its ratio divides the
scenario's median rate by the median rate of the reference rounds run beside it.
The table is Markdown so that a run's output can go into docs/benchmarks.md unchanged.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.measure import Result


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    rounds: Sequence[Result]
    #: What the ratio compares with, and its rounds; empty for rows with no reference.
    reference: str = ""
    reference_rounds: Sequence[Result] = ()

    @property
    def per_second(self) -> float:
        return statistics.median(r.per_second for r in self.rounds)

    @property
    def p50_ms(self) -> float | None:
        return _median([r.p50_ms for r in self.rounds])

    @property
    def p99_ms(self) -> float | None:
        return _median([r.p99_ms for r in self.rounds])

    @property
    def cpu_ms(self) -> float | None:
        return _median([r.cpu_ms for r in self.rounds])

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.rounds)

    @property
    def reference_per_second(self) -> float | None:
        return statistics.median(r.per_second for r in self.reference_rounds) if self.reference_rounds else None

    @property
    def ratio(self) -> float | None:
        reference = self.reference_per_second
        return self.per_second / reference if reference else None

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "per_second": round(self.per_second, 2),
            "p50_ms": _rounded(self.p50_ms, 3),
            "p99_ms": _rounded(self.p99_ms, 3),
            "cpu_ms": _rounded(self.cpu_ms, 3),
            "errors": self.errors,
            "reference": self.reference or None,
            "reference_per_second": _rounded(self.reference_per_second, 2),
            "ratio": _rounded(self.ratio, 3),
            "rounds": [_result_json(r) for r in self.rounds],
            "reference_rounds": [_result_json(r) for r in self.reference_rounds],
        }


@dataclass(frozen=True, slots=True)
class Goal:
    """A target the run is measured against (reported, never enforced)."""

    name: str
    value: float
    limit: float
    #: True: the value must reach the limit; False: it must not exceed it.
    at_least: bool
    unit: str = ""

    @property
    def met(self) -> bool:
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    @property
    def verdict(self) -> str:
        if self.met:
            return "met"
        gap = abs(self.value - self.limit)
        share = f" ({gap / self.limit:.0%})" if self.limit else ""
        return f"missed by {_number(gap)}{self.unit}{share}"

    def to_json(self) -> dict[str, Any]:
        return {
            "goal": self.name,
            "value": round(self.value, 3),
            "limit": self.limit,
            "met": self.met,
            "verdict": self.verdict,
        }


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| scenario | per second | p50 | p99 | CPU per operation | errors | compared with | ratio |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in rows:
        reference = row.reference_per_second
        compared = f"{row.reference} ({_number(reference)}/s)" if reference is not None else ""
        ratio = _number(row.ratio) if row.ratio is not None else ""
        lines.append(
            f"| {row.name} | {_number(row.per_second)} | {_milliseconds(row.p50_ms)} | {_milliseconds(row.p99_ms)} "
            f"| {_milliseconds(row.cpu_ms)} | {row.errors} | {compared} | {ratio} |"
        )
    return "\n".join(lines)


def goals_table(goals: Sequence[Goal]) -> str:
    lines = ["| goal | measured | verdict |", "|---|---:|---|"]
    lines += [f"| {goal.name} | {_number(goal.value)}{goal.unit} | {goal.verdict} |" for goal in goals]
    return "\n".join(lines)


def _number(value: float) -> str:
    """Three significant figures or so, with thousands separators: 5,210 / 48.2 / 3.07 / 0.412; counts as they are."""
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _milliseconds(value: float | None) -> str:
    """A latency (or CPU time) cell; empty for a row that does not measure it."""
    return "" if value is None else f"{_number(value)} ms"


def _median(values: Sequence[float | None]) -> float | None:
    """The median of the rounds' values; unset if any round has none (they all measure the same way)."""
    present = [value for value in values if value is not None]
    return statistics.median(present) if present and len(present) == len(values) else None


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _result_json(result: Result) -> dict[str, Any]:
    return {
        "operations": result.operations,
        "seconds": round(result.seconds, 3),
        "errors": result.errors,
        "p50_ms": _rounded(result.p50_ms, 3),
        "p99_ms": _rounded(result.p99_ms, 3),
        "cpu_ms": _rounded(result.cpu_ms, 3),
    }
