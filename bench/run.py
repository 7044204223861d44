"""``just bench``: the service against a bare baseline app, under wrk, in one run.

1. wrk (installed with apt-get when missing and root), bytecode compiled as the image does;
2. PostgreSQL and Redis: ``DATABASE_URL`` / ``REDIS_URL``, else throwaway servers;
3. a fresh database, migrated and seeded with ``--users`` users (COPY, ``bench/seed.py``), and
   when the tasks rows are wanted, with the profile's tasks and organizations (``bench/seed_tasks.py``);
4. the service (``just serve``, production settings, ``WORKERS`` workers) and the baseline
   (``bench/baseline.py``, same uvicorn and worker count), each in its own process group;
   for the gRPC scenario ``just grpc`` and the bare gRPC server (``bench/grpc_baseline.py``);
   for the event pipeline RabbitMQ (``BROKER_URL``, else a throwaway server);
5. every scenario of ``bench/scenarios.py``: a warm-up, then rounds that alternate the
   scenario with its reference, so that both see the machine in the same state (the
   event pipeline and the job queue: rounds alone, see ``bench/events.py``, ``bench/jobs.py``);
6. worker memory from the service's ``/metrics``, then everything is stopped;
7. the table and the goals printed, and the results saved under ``bench/results/``.

``just bench-quick`` runs the same with a small seed and short, single rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import secrets
import signal
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import msgspec

from app.infrastructure.config import load_settings
from bench import backing, environment, fixtures, grpc_load, hashing, report, scenarios, servers, wrk
from bench.measure import Result
from bench.report import Goal, Row
from bench.scenarios import Scenario, Targets
from bench.seed import seed
from bench.seed_tasks import seed_tasks

RESULTS_DIR = Path(__file__).parent / "results"


@dataclasses.dataclass(frozen=True, slots=True)
class Profile:
    name: str
    users: int
    seconds: float
    rounds: int
    warmup_seconds: float
    #: Tasks seeded across organizations, and the pages of 50 before the tasks' cursor page
    #: (the largest organization's to-do tasks must fill them).
    tasks: int = 1_000_000
    organizations: int = 1_000
    task_pages: int = 500


FULL = Profile("full", users=1_000_000, seconds=10, rounds=2, warmup_seconds=2)
QUICK = Profile(
    "quick", users=20_000, seconds=2, rounds=1, warmup_seconds=1, tasks=20_000, organizations=100, task_pages=5
)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    profile = QUICK if args.quick else FULL
    profile = Profile(
        profile.name,
        users=args.users or profile.users,
        seconds=args.seconds or profile.seconds,
        rounds=args.rounds or profile.rounds,
        warmup_seconds=profile.warmup_seconds,
        tasks=profile.tasks,
        organizations=profile.organizations,
        task_pages=profile.task_pages,
    )
    _stop_cleanly_on_signals()
    wrk_path = wrk.ensure_installed()
    _say("compiling bytecode")
    servers.compile_bytecode()
    record = run(profile, args.workers, wrk_path, [name.lower() for name in args.only])
    record["command"] = "just bench-quick" if args.quick else "just bench"
    output = args.output or RESULTS_DIR / f"{profile.name}-{datetime.now(UTC):%Y-%m-%dT%H%M}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(msgspec.json.format(msgspec.json.encode(record)) + b"\n")
    print(f"\n{record['table']}\n\n{record['goals_table']}\n\nsaved {output}")


def run(profile: Profile, workers: int, wrk_path: str, only: Sequence[str]) -> dict[str, Any]:
    started = datetime.now(UTC)
    machine = environment.machine()
    depth = profile.users // 2
    every = scenarios.scenarios(depth, profile.task_pages)
    chosen = [s for s in every if not only or any(o in s.name.lower() for o in only)]
    with contextlib.ExitStack() as stack:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        postgres_url = stack.enter_context(backing.postgres())
        redis_url = stack.enter_context(backing.redis_server())
        wants_broker = any(isinstance(s, scenarios.EventsScenario) for s in chosen)
        broker_url = stack.enter_context(backing.rabbitmq()) if wants_broker else ""
        database_url = stack.enter_context(backing.fresh_database(postgres_url))
        _say(f"seeding {profile.users:,} users")
        seeded_in = asyncio.run(seed(database_url, profile.users))
        tasks_seeded_in = None
        if any(isinstance(s, scenarios.TaskListingScenario) for s in chosen):
            _say(f"seeding {profile.tasks:,} tasks in {profile.organizations:,} organizations")
            tasks_seeded_in = asyncio.run(seed_tasks(database_url, profile.tasks, profile.organizations))
        env = service_env(database_url, redis_url, workers)
        settings = load_settings(env, env_file=None)
        fixtures.create_admin(settings)
        service = _serve(stack, logs, servers.ServerSpec("service", ["just", "serve"], env, HEALTHY))
        baseline = _serve(stack, logs, servers.ServerSpec("baseline", _baseline_argv(workers), env, BASELINE_READY))
        grpc_servers = {}
        if any(isinstance(s, scenarios.GrpcScenario) for s in chosen):
            for name, argv in (
                ("grpc", ["just", "grpc"]),
                ("grpc-baseline", [sys.executable, "-m", "bench.grpc_baseline"]),
            ):
                spec = servers.ServerSpec(name, argv, env, grpc_load.grpc_ready, port_variable="GRPC_PORT")
                grpc_servers[name] = _serve(stack, logs, spec)
        credentials = fixtures.credentials(service.base_url, depth)
        targets = Targets(
            wrk=wrk_path,
            settings=settings,
            service=service.base_url,
            baseline=baseline.base_url,
            **msgspec.structs.asdict(credentials),
            grpc_service=grpc_servers["grpc"].address if grpc_servers else "",
            grpc_baseline=grpc_servers["grpc-baseline"].address if grpc_servers else "",
            postgres_server=postgres_url,
            broker=broker_url,
            jobs_redis=backing.other_redis_database(redis_url),
        )
        rows = measure(chosen, targets, profile)
        rss = servers.worker_rss_bytes(service.base_url)
        versions = asyncio.run(_server_versions(database_url, redis_url, broker_url))
    goals = evaluate(rows, rss, service.startup_seconds)
    return {
        "date": started.isoformat(timespec="seconds"),
        "revision": environment.revision(),
        "profile": dataclasses.asdict(profile),
        "workers": workers,
        "machine": machine,
        "versions": {**environment.versions(wrk_path), **versions},
        "password_hash": hashing.describe(settings),
        "seed_seconds": round(seeded_in, 1),
        "tasks_seed_seconds": None if tasks_seeded_in is None else round(tasks_seeded_in, 1),
        "startup_seconds": round(service.startup_seconds, 3),
        "startup_cpu_seconds": round(service.startup_cpu_seconds, 3),
        "baseline_startup_seconds": round(baseline.startup_seconds, 3),
        **{
            f"{name.replace('-', '_')}_startup_seconds": round(s.startup_seconds, 3) for name, s in grpc_servers.items()
        },
        "worker_rss_mib": {str(pid): round(size / 2**20, 1) for pid, size in rss.items()},
        "rows": [row.to_json() for row in rows],
        "goals": [goal.to_json() for goal in goals],
        "table": report.table(rows),
        "goals_table": report.goals_table(goals),
    }


HEALTHY = servers.http_ready("/health/live")
BASELINE_READY = servers.http_ready(scenarios.ME)


def _serve(stack: contextlib.ExitStack, logs: Path, spec: servers.ServerSpec) -> servers.Server:
    """Start a server for the rest of the run (stopped when the stack closes) and say how long it took."""
    server = stack.enter_context(servers.serving(spec, logs))
    _say(f"{spec.name} started in {server.startup_seconds:.2f} s")
    return server


async def _server_versions(database_url: str, redis_url: str, broker_url: str) -> dict[str, str]:
    found = {
        "postgresql-server": await backing.postgres_version(database_url),
        "redis-server": await backing.redis_version(redis_url),
    }
    if broker_url:
        found["rabbitmq-server"] = await backing.rabbitmq_version(broker_url)
    return found


def measure(chosen: Sequence[Scenario], targets: Targets, profile: Profile) -> list[Row]:
    """Each scenario: a warm-up, then rounds of reference and scenario in turn.

    Warm-ups (each reference's first, each scenario's that has one) fill pools and caches;
    their results are dropped. A scenario without a reference runs its rounds alone.
    """
    rows: list[Row] = []
    references: dict[str, list[Result]] = {}
    for scenario in chosen:
        seconds = profile.seconds * scenario.duration_factor
        reference = scenario.reference
        if reference is not None and reference.name not in references:
            reference.measure(targets, profile.warmup_seconds)
            references[reference.name] = []
        if scenario.warms_up:
            scenario.run(targets, profile.warmup_seconds)
        reference_rounds: list[Result] = []
        named: dict[str, list[Result]] = defaultdict(list)
        for round_number in range(1, profile.rounds + 1):
            beside = ""
            if reference is not None:
                reference_rounds.append(reference.measure(targets, seconds))
                beside = f" ({reference.name}: {reference_rounds[-1].per_second:,.1f}/s)"
            for name, result in scenario.run(targets, seconds):
                named[name].append(result)
                p99 = "" if result.p99_ms is None else f", p99 {result.p99_ms:.1f} ms"
                _say(f"round {round_number}: {name}: {result.per_second:,.1f}/s{p99}, {result.errors} errors{beside}")
        for index, (name, results) in enumerate(named.items()):
            # The scenario's own row is compared with the reference; the others (a probe) are not.
            if index == 0 and reference is not None:
                references[reference.name] += reference_rounds
                rows.append(Row(name, results, reference.name, reference_rounds))
            else:
                rows.append(Row(name, results))
    rows += [Row(name, results) for name, results in references.items()]
    return rows


def evaluate(rows: Sequence[Row], rss: dict[int, int], startup_seconds: float) -> list[Goal]:
    """The service's goals (docs/benchmarks.md), for those rows the run has (``--only`` may leave some out)."""
    by_name = {row.name: row for row in rows}
    goals = []
    if me := by_name.get(scenarios.ME_BEARER):
        goals.append(Goal(f"{me.name}: requests/s >= 0.6 x the bare app's", me.ratio or 0.0, 0.6, at_least=True))
        goals.append(Goal(f"{me.name}: no errors", me.errors, 0, at_least=False))
    if login := by_name.get(scenarios.LOGIN):
        goals.append(Goal(f"{login.name}: >= 0.9 x argon2 verifications/s", login.ratio or 0.0, 0.9, at_least=True))
    if (probe := by_name.get(scenarios.HEALTH_DURING_LOGIN)) and probe.p99_ms is not None:
        goals.append(Goal(f"{probe.name}: p99 < 25 ms", probe.p99_ms, 25.0, at_least=False, unit=" ms"))
    if (page := by_name.get(scenarios.USERS_FIRST_PAGE)) and (me := by_name.get(scenarios.ME_BEARER)):
        ratio = page.per_second / me.per_second if me.per_second else 0.0
        goals.append(Goal(f"{page.name}: requests/s >= 0.4 x {me.name}", ratio, 0.4, at_least=True))
    if (listed := by_name.get(scenarios.USERS_FIRST_PAGE_IN_PROCESS)) and listed.cpu_ms is not None:
        goals.append(Goal(f"{listed.name}: CPU <= 3 ms", listed.cpu_ms, 3.0, at_least=False, unit=" ms"))
    goals += _task_listing_goals(rows)
    if events := by_name.get(scenarios.EVENTS_END_TO_END):
        goals.append(Goal(f"{events.name}: >= 2,000 events/s", events.per_second, 2000.0, at_least=True, unit="/s"))
    if (consumed := by_name.get(scenarios.EVENTS_CONSUMED)) and consumed.cpu_ms is not None:
        name = f"{consumed.name}: CPU <= 1 ms per message"
        goals.append(Goal(name, consumed.cpu_ms, 1.0, at_least=False, unit=" ms"))
    if (published := by_name.get(scenarios.EVENTS_COMMIT_TO_PUBLISH)) and published.p99_ms is not None:
        # The latency goal holds at a steady 500 events/s: a run that could not commit them says so.
        steady = 0.95 * scenarios.EVENT_RATE
        goals.append(
            Goal(f"{published.name}: >= {steady:g} committed/s", published.per_second, steady, at_least=True, unit="/s")
        )
        goals.append(Goal(f"{published.name}: p99 < 50 ms", published.p99_ms, 50.0, at_least=False, unit=" ms"))
    if drained := by_name.get(scenarios.JOBS_DRAIN):
        goals.append(Goal(f"{drained.name}: >= 1,000 jobs/s", drained.per_second, 1000.0, at_least=True, unit="/s"))
    if (started := by_name.get(scenarios.JOBS_ENQUEUE_TO_START)) and started.p50_ms is not None:
        goals.append(Goal(f"{started.name}: median < 10 ms", started.p50_ms, 10.0, at_least=False, unit=" ms"))
    if rss:
        largest = max(rss.values()) / 1e6
        goals.append(Goal("API worker RSS after the run < 150 MB", largest, 150.0, at_least=False, unit=" MB"))
    startup = "start-up (just serve to the first 200 from /health/live) < 1.5 s"
    goals.append(Goal(startup, startup_seconds, 1.5, at_least=False, unit=" s"))
    return goals


def _task_listing_goals(rows: Sequence[Row]) -> list[Goal]:
    """Each tasks page (first and deep cursor page, under row-level security): median under 20 ms."""
    return [
        Goal(f"{row.name}: median < 20 ms", row.p50_ms, 20.0, at_least=False, unit=" ms")
        for row in rows
        if row.name.startswith(scenarios.TASKS_IN_PROCESS) and row.p50_ms is not None
    ]


def service_env(database_url: str, redis_url: str, workers: int) -> dict[str, str]:
    """Production settings, with the limits a load test needs raised."""
    return {
        "APP_ENV": "prod",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        # Events are published in-process: the event pipeline is measured apart (bench/events.py).
        "BROKER_URL": "",
        "WORKERS": str(workers),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        # Every sign-in of the login scenario comes from one address.
        "RATE_LIMIT_AUTH": "1000000/second",
        # The tokens are made once, before the loads, and must outlive the longest run.
        "ACCESS_TOKEN_TTL_SECONDS": "86400",
    }


def _baseline_argv(workers: int) -> list[str]:
    # HOST and PORT come from the environment that ``servers.serving`` sets.
    return ["sh", "-c", f'exec uv run --frozen uvicorn --factory bench.baseline:create_app --host "$HOST" '
            f'--port "$PORT" --workers {workers} --no-access-log']  # fmt: skip


def _stop_cleanly_on_signals() -> None:
    """SIGTERM and SIGHUP end the run like Ctrl-C does: through every ``finally``, servers stopped."""

    def stop(signum: int, _: FrameType | None) -> NoReturn:
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small seed, short single rounds (development)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS") or os.cpu_count() or 1))
    parser.add_argument("--users", type=int, help="users to seed (default: 1,000,000; quick: 20,000)")
    parser.add_argument("--seconds", type=float, help="length of one round (default: 10; quick: 2)")
    parser.add_argument("--rounds", type=int, help="rounds per scenario (default: 2; quick: 1)")
    parser.add_argument("--only", action="append", default=[], help="run scenarios whose name contains this")
    parser.add_argument("--output", type=Path, help="where to save the results (default: bench/results/)")
    return parser


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
