"""One measurement of a load: what every kind of scenario reduces its run to."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Result:
    """Completed operations over a wall-clock span, failures, and latency percentiles.

    A throughput that has no per-operation latency (a backlog drained as a whole) leaves
    the percentiles unset rather than inventing them. ``cpu_ms`` is the CPU time the
    measured process spent per operation, where a scenario measures it (a goal is set on it).
    """

    operations: int
    seconds: float
    errors: int
    p50_ms: float | None
    p99_ms: float | None
    cpu_ms: float | None = None

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds > 0 else 0.0


def percentiles(latencies_ms: Sequence[float]) -> tuple[float | None, float | None]:
    """The median and the 99th percentile (nearest rank) of the latencies; unset when there are none."""
    if not latencies_ms:
        return None, None
    ordered = sorted(latencies_ms)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
