"""Driving load with wrk: installing it, running it, and reading its results.

wrk is a C load generator (event loop per thread, keep-alive connections): unlike a
Python client, it does not become the bottleneck before the server does. Every run
loads ``lua/report.lua``, whose ``done()`` hook prints the summary and latency
percentiles as one JSON line after :data:`MARKER`; :func:`parse_report` reads that line.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from bench import packages
from bench.measure import Result

LUA_DIR = Path(__file__).parent / "lua"
MARKER = "wrk-report: "

#: wrk ends on its own after ``-d``; this much more is allowed before it counts as hung.
_GRACE_SECONDS = 15.0


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed no report."""


class _Errors(msgspec.Struct):
    connect: int
    read: int
    write: int
    status: int  # responses other than 2xx and 3xx
    timeout: int


class _Latency(msgspec.Struct):
    p50: int
    p90: int
    p99: int
    max: int
    mean: float


class _Report(msgspec.Struct):
    requests: int
    duration_us: int
    errors: _Errors
    latency_us: _Latency


@dataclass(frozen=True, slots=True)
class Load:
    """What one wrk process sends: the URL, headers, the Lua script and its arguments."""

    url: str
    connections: int
    threads: int = 1
    script: str = "report.lua"
    script_args: Sequence[str] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    #: A response slower than this counts as a timeout error.
    timeout_seconds: float = 10.0


def parse_report(output: str) -> Result:
    """The result in wrk's output, from the line ``report.lua`` prints; WrkError when absent."""
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            try:
                report = msgspec.json.decode(line[len(MARKER) :], type=_Report)
            except msgspec.DecodeError as exc:
                raise WrkError(f"unreadable wrk report: {exc}") from exc
            errors = report.errors
            return Result(
                operations=report.requests,
                seconds=report.duration_us / 1e6,
                errors=errors.connect + errors.read + errors.write + errors.status + errors.timeout,
                p50_ms=report.latency_us.p50 / 1000,
                p99_ms=report.latency_us.p99 / 1000,
            )
    raise WrkError(f"wrk printed no report:\n{output[-2000:]}")


def command(wrk: str, load: Load, seconds: float) -> list[str]:
    argv = [wrk, "--threads", str(load.threads), "--connections", str(load.connections)]
    argv += ["--duration", f"{max(1, round(seconds))}s", "--timeout", f"{load.timeout_seconds:g}s"]
    for name, value in load.headers.items():
        argv += ["--header", f"{name}: {value}"]
    argv += ["--script", str(LUA_DIR / load.script), load.url]
    if load.script_args:
        argv += ["--", *load.script_args]
    return argv


def run(wrk: str, load: Load, seconds: float) -> Result:
    """Run wrk for ``seconds`` and return its result; bounded even if wrk hangs.

    wrk stays in our process group, so Ctrl-C reaches it too.
    """
    argv = command(wrk, load, seconds)
    try:
        # The scripts load report.lua by a relative path.
        done = subprocess.run(  # noqa: S603 - our own argv, no shell
            argv, cwd=LUA_DIR, capture_output=True, text=True, timeout=seconds + _GRACE_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish within {seconds + _GRACE_SECONDS:.0f} s") from exc
    if done.returncode != 0:
        raise WrkError(f"wrk exited with status {done.returncode}:\n{done.stderr[-2000:]}")
    return parse_report(done.stdout)


def ensure_installed() -> str:
    """The path of wrk, installed from Debian's package when missing (see ``bench.packages``)."""
    return packages.ensure("wrk", "wrk")
