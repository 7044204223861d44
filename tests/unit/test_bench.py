"""The load test's own logic: reading wrk's and the gRPC client's reports, alternating runs, the tables and goals."""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from argon2 import PasswordHasher

from app.infrastructure.config import load_settings
from app.infrastructure.security.passwords import HASHING_NICENESS
from bench import backing, grpc_load, hashing, report, run, scenarios, wrk
from bench.grpc_load import GrpcLoad, GrpcLoadError
from bench.measure import Result, percentiles
from bench.report import Goal, Row
from bench.scenarios import Targets
from bench.wrk import Load, WrkError

#: What report.lua prints, as wrk's Lua formats it.
REPORT = (
    '{"requests":4000,"duration_us":2000000,"bytes":1048576,'
    '"errors":{"connect":1,"read":2,"write":0,"status":3,"timeout":4},'
    '"latency_us":{"p50":2900,"p90":4100,"p99":12500,"max":20000,"mean":3100.5}}'
)
WRK_OUTPUT = (
    """Running 2s test @ http://127.0.0.1:8000/health/live
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms    1.20ms  20.00ms   90.00%
  4000 requests in 2.00s, 1.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   2000.00
Transfer/sec:      0.50MB
"""
    + f"wrk-report: {REPORT}\n"
)


TARGETS = Targets("wrk", load_settings({}, env_file=None), "http://s", "http://b", "t", "k", "a", "{}", "c")


def _result(per_second: float, p99_ms: float = 10.0, errors: int = 0) -> Result:
    return Result(operations=int(per_second * 10), seconds=10.0, errors=errors, p50_ms=p99_ms / 4, p99_ms=p99_ms)


def _grpc_report(calls: int, seconds: float, errors: dict[str, int], latencies_us: list[int]) -> str:
    body = f'{{"calls":{calls},"seconds":{seconds},"errors":{json.dumps(errors)},"latencies_us":{latencies_us}}}'
    return f"ready\n{grpc_load.MARKER}{body}\n"


def test_the_report_line_is_read_and_every_kind_of_error_counted() -> None:
    result = wrk.parse_report(WRK_OUTPUT)

    assert result == Result(operations=4000, seconds=2.0, errors=10, p50_ms=2.9, p99_ms=12.5)
    assert result.per_second == 2000.0


@pytest.mark.parametrize("output", ["", "Requests/sec: 2000.00\n", "wrk-report: {not json\n"], ids=str)
def test_output_without_a_readable_report_is_an_error(output: str) -> None:
    with pytest.raises(WrkError):
        wrk.parse_report(output)


def test_the_command_carries_headers_script_and_its_arguments() -> None:
    load = Load("http://127.0.0.1:1/x", 8, script="post.lua", script_args=['{"a": 1}'], headers={"X-Api-Key": "k"})

    argv = wrk.command("/usr/bin/wrk", load, 2.4)

    assert argv[:9] == ["/usr/bin/wrk", "--threads", "1", "--connections", "8", "--duration", "2s", "--timeout", "10s"]
    assert argv[9:11] == ["--header", "X-Api-Key: k"]
    assert argv[11] == "--script"
    assert argv[12].endswith("/bench/lua/post.lua")
    assert argv[13:] == ["http://127.0.0.1:1/x", "--", '{"a": 1}']


def test_a_row_shows_medians_summed_errors_and_the_ratio_to_its_reference() -> None:
    row = Row(
        "me",
        [_result(900, 30.0, errors=1), _result(1000, 10.0), _result(800, 20.0, errors=2)],
        reference="bare",
        reference_rounds=[_result(2000), _result(1000)],
    )

    assert (row.per_second, row.p99_ms, row.errors) == (900, 20.0, 3)
    assert row.reference_per_second == 1500
    assert row.ratio == pytest.approx(0.6)


def test_the_table_is_markdown_with_one_line_per_row() -> None:
    rows = [Row("GET /x", [_result(1234.5, 12.34)], "bare", [_result(2469)]), Row("bare", [_result(2469)])]

    lines = report.table(rows).splitlines()

    assert lines[0] == "| scenario | per second | p50 | p99 | CPU per operation | errors | compared with | ratio |"
    assert lines[2] == "| GET /x | 1,234 | 3.08 ms | 12.3 ms |  | 0 | bare (2,469/s) | 0.500 |"
    assert lines[3] == "| bare | 2,469 | 2.50 ms | 10.0 ms |  | 0 |  |  |"


def test_a_backlog_drained_as_a_whole_shows_its_rate_and_no_latency() -> None:
    drained = Result(operations=3000, seconds=2.5, errors=1, p50_ms=None, p99_ms=None)
    row = Row("jobs drained", [drained, drained])

    assert report.table([row]).splitlines()[2] == "| jobs drained | 1,200 |  |  |  | 2 |  |  |"
    assert (row.to_json()["p50_ms"], row.to_json()["p99_ms"]) == (None, None)


def test_percentiles_are_the_median_and_the_nearest_rank_99th() -> None:
    assert percentiles([5.0, 1.0, 3.0]) == (3.0, 5.0)
    assert percentiles([float(n) for n in range(1, 201)]) == (100.5, 199.0)
    assert percentiles([]) == (None, None)


def test_the_grpc_clients_reports_add_up_over_the_longest_span() -> None:
    reports = [
        grpc_load.parse_report(_grpc_report(4, 2.0, {}, [1000, 3000, 2000, 4000])),
        grpc_load.parse_report(_grpc_report(3, 2.5, {"DEADLINE_EXCEEDED": 1, "UNAVAILABLE": 1}, [5000])),
    ]

    result = grpc_load.combine(reports)

    assert result == Result(operations=7, seconds=2.5, errors=2, p50_ms=3.0, p99_ms=5.0)
    assert result.per_second == 2.8


@pytest.mark.parametrize("output", ["", "ready\n", f"{grpc_load.MARKER}{{not json\n"], ids=str)
def test_client_output_without_a_readable_report_is_an_error(output: str) -> None:
    with pytest.raises(GrpcLoadError):
        grpc_load.parse_report(output)


def test_the_grpc_client_command_carries_the_load_and_its_metadata() -> None:
    load = GrpcLoad("127.0.0.1:1", [("authorization", "Bearer t")], in_flight=8, timeout_seconds=5)

    argv = grpc_load.command(load, 2.5)

    assert argv[1:] == [
        "-m", "bench.grpc_load", "--target", "127.0.0.1:1", "--in-flight", "8", "--seconds", "2.5",
        "--timeout", "5", "--metadata", "authorization: Bearer t",
    ]  # fmt: skip


def test_the_job_queue_gets_a_redis_database_apart_from_the_services() -> None:
    assert backing.other_redis_database("redis://:pw@127.0.0.1:6379/0") == "redis://:pw@127.0.0.1:6379/1"
    assert backing.other_redis_database("redis://127.0.0.1:6379") == "redis://127.0.0.1:6379/1"
    assert backing.other_redis_database("redis://127.0.0.1:6379/1") == "redis://127.0.0.1:6379/2"


@pytest.mark.parametrize(
    ("goal", "verdict"),
    [
        (Goal("ratio", 0.75, 0.6, at_least=True), "met"),
        (Goal("ratio", 0.45, 0.6, at_least=True), "missed by 0.150 (25%)"),
        (Goal("p99", 25.0, 25.0, at_least=False, unit=" ms"), "met"),
        (Goal("p99", 30.0, 25.0, at_least=False, unit=" ms"), "missed by 5.00 ms (20%)"),
        (Goal("errors", 3, 0, at_least=False), "missed by 3"),
    ],
)
def test_a_goal_says_whether_it_was_met_and_by_how_much_it_was_missed(goal: Goal, verdict: str) -> None:
    assert goal.verdict == verdict
    assert goal.met is (verdict == "met")


@dataclass
class _Recorder:
    """A reference and a scenario that log their calls and return fixed rates."""

    calls: list[str] = field(default_factory=list)

    @dataclass
    class Reference:
        log: list[str]
        name: str = "ceiling"

        def measure(self, targets: Targets, seconds: float) -> Result:
            self.log.append(f"reference {seconds:g}")
            return _result(1000)

    @dataclass
    class Scenario:
        log: list[str]
        reference: _Recorder.Reference | None
        name: str = "load"
        duration_factor: float = 2.0
        warms_up: bool = True

        def run(self, targets: Targets, seconds: float) -> list[tuple[str, Result]]:
            self.log.append(f"scenario {seconds:g}")
            return [(self.name, _result(500)), ("probe", _result(50, p99_ms=5.0))]


def test_scenario_and_reference_alternate_after_one_warm_up_each() -> None:
    recorder = _Recorder()
    reference = _Recorder.Reference(recorder.calls)
    scenario = _Recorder.Scenario(recorder.calls, reference)

    rows = run.measure([scenario], TARGETS, run.Profile("test", users=1, seconds=3, rounds=2, warmup_seconds=1))

    assert recorder.calls == ["reference 1", "scenario 1", "reference 6", "scenario 6", "reference 6", "scenario 6"]
    assert [(row.name, row.reference, len(row.rounds), row.ratio) for row in rows] == [
        ("load", "ceiling", 2, 0.5),
        ("probe", "", 2, None),
        ("ceiling", "", 2, None),
    ]


def test_a_scenario_without_reference_or_warm_up_runs_its_rounds_alone() -> None:
    recorder = _Recorder()
    scenario = _Recorder.Scenario(recorder.calls, reference=None, warms_up=False)

    rows = run.measure([scenario], TARGETS, run.Profile("test", users=1, seconds=3, rounds=2, warmup_seconds=1))

    assert recorder.calls == ["scenario 6", "scenario 6"]
    assert [(row.name, row.reference, len(row.rounds), row.ratio) for row in rows] == [
        ("load", "", 2, None),
        ("probe", "", 2, None),
    ]


def test_goals_are_checked_for_the_rows_a_run_has() -> None:
    rows = [
        Row("GET /users/me (Bearer)", [_result(700)], "bare", [_result(1000)]),
        Row("GET /health/live during login", [_result(50, p99_ms=30.0)]),
    ]

    goals = run.evaluate(rows, {1: 120_000_000, 2: 160_000_000}, startup_seconds=1.5)

    assert [(goal.name.split(":")[0], goal.met) for goal in goals] == [
        ("GET /users/me (Bearer)", True),
        ("GET /users/me (Bearer)", True),
        ("GET /health/live during login", False),
        ("API worker RSS after the run < 150 MB", False),
        ("start-up (just serve to the first 200 from /health/live) < 1.5 s", True),
    ]


def test_the_event_pipeline_and_job_queue_goals_are_checked() -> None:
    def backlog(per_second: float) -> Result:
        return Result(operations=round(per_second * 10), seconds=10.0, errors=0, p50_ms=None, p99_ms=None)

    rows = [
        Row(scenarios.EVENTS_END_TO_END, [backlog(60)]),
        Row(scenarios.EVENTS_CONSUMED, [replace(backlog(1200), cpu_ms=0.7)]),
        Row(scenarios.EVENTS_COMMIT_TO_PUBLISH, [_result(480, p99_ms=60.0)]),
        Row(scenarios.JOBS_DRAIN, [backlog(1200)]),
        Row(scenarios.JOBS_ENQUEUE_TO_START, [Result(500, 10.0, 0, p50_ms=2.0, p99_ms=40.0)]),
    ]

    goals = run.evaluate(rows, {}, startup_seconds=1.0)

    assert [(goal.name, goal.met) for goal in goals] == [
        (f"{scenarios.EVENTS_END_TO_END}: >= 2,000 events/s", False),
        (f"{scenarios.EVENTS_CONSUMED}: CPU <= 1 ms per message", True),
        (f"{scenarios.EVENTS_COMMIT_TO_PUBLISH}: >= 475 committed/s", True),
        (f"{scenarios.EVENTS_COMMIT_TO_PUBLISH}: p99 < 50 ms", False),
        (f"{scenarios.JOBS_DRAIN}: >= 1,000 jobs/s", True),
        (f"{scenarios.JOBS_ENQUEUE_TO_START}: median < 10 ms", True),
        ("start-up (just serve to the first 200 from /health/live) < 1.5 s", True),
    ]


@pytest.mark.parametrize(("listed_per_second", "cpu_ms", "met"), [(400, 3.0, True), (399, 3.1, False)])
def test_the_listing_goals_are_checked_against_the_authenticated_read_and_in_process_cpu(
    listed_per_second: float, cpu_ms: float, met: bool
) -> None:
    rows = [
        Row(scenarios.ME_BEARER, [_result(1000)], "bare", [_result(1000)]),
        Row(scenarios.USERS_FIRST_PAGE, [_result(listed_per_second)]),
        Row(scenarios.USERS_FIRST_PAGE_IN_PROCESS, [replace(_result(300), cpu_ms=cpu_ms)]),
    ]

    goals = {goal.name: goal for goal in run.evaluate(rows, {}, startup_seconds=1.6)}

    ratio = goals[f"{scenarios.USERS_FIRST_PAGE}: requests/s >= 0.4 x {scenarios.ME_BEARER}"]
    in_process = goals[f"{scenarios.USERS_FIRST_PAGE_IN_PROCESS}: CPU <= 3 ms"]
    assert ratio.value == pytest.approx(listed_per_second / 1000)
    assert ratio.met is met
    assert (in_process.value, in_process.met) == (cpu_ms, met)
    assert not goals["start-up (just serve to the first 200 from /health/live) < 1.5 s"].met


def test_each_tasks_page_is_held_to_a_median_under_20_ms() -> None:
    first, deep = (f"{scenarios.TASKS_IN_PROCESS} {page}" for page in ("first page", "cursor page at depth 500"))
    rows = [
        Row(first, [Result(100, 1.0, 0, p50_ms=19.9, p99_ms=40.0), Result(100, 1.0, 0, p50_ms=20.0, p99_ms=40.0)]),
        Row(deep, [Result(100, 1.0, 0, p50_ms=20.5, p99_ms=40.0)]),
    ]

    goals = run.evaluate(rows, {}, startup_seconds=1.0)

    assert [(goal.name, goal.value, goal.met) for goal in goals[:2]] == [
        (f"{first}: median < 20 ms", 19.95, True),
        (f"{deep}: median < 20 ms", 20.5, False),
    ]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have a priority of their own on Linux")
def test_the_argon2_ceiling_counts_as_wrk_does_at_the_services_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    """Verifications that end within the span, over the span, hashed at the service's lower priority."""
    settings = load_settings(
        {"PASSWORD_HASH_TIME_COST": "1", "PASSWORD_HASH_MEMORY_KIB": "1024", "PASSWORD_HASH_PARALLELISM": "1"},
        env_file=None,
    )
    calls = 0
    priorities: set[int] = set()
    verify = PasswordHasher.verify

    def recording(self: PasswordHasher, *args: Any) -> bool:
        nonlocal calls
        calls += 1
        priorities.add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return verify(self, *args)

    monkeypatch.setattr(PasswordHasher, "verify", recording)
    result = hashing.verifications(settings, seconds=0.3, threads=2)

    assert result.seconds == 0.3
    # Each thread's last verification runs past the span, like a load test's last requests: not counted.
    assert 0 < calls - 2 <= result.operations < calls
    loop_priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert priorities == {min(19, loop_priority + HASHING_NICENESS)}
