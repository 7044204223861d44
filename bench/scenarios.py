"""The scenario list: what a run measures, with which load, against which reference.

A scenario turns the run's :class:`Targets` into one or more :class:`Result` rows; its
*reference* is the ceiling it is compared with, measured alternately with it in the same
run (see ``bench.run``), so that both see the machine in the same state. Adding a
scenario is one entry in :func:`scenarios`; each kind of load is one class with the
:class:`Scenario` shape: wrk (:class:`WrkScenario`, :class:`ProbedScenario`), the gRPC
client (:class:`GrpcScenario`), the event pipeline (:class:`EventsScenario`) and the job
queue (:class:`JobsScenario`), the tasks listing in-process (:class:`TaskListingScenario`).
The event pipeline and the job queue have no ceiling to compare with and no
warm-up: each round starts their processes afresh and times them once they are ready.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from app.infrastructure.config import Settings
from bench import events, grpc_load, hashing, inprocess, jobs, task_listing, wrk
from bench.grpc_load import GrpcLoad
from bench.measure import Result, percentiles
from bench.wrk import Load

ME = "/api/v1/users/me"
USERS = "/api/v1/users"

HEALTH = "GET /health/live"
ME_BEARER = "GET /users/me (Bearer)"
ME_API_KEY = "GET /users/me (X-API-Key)"
LOGIN = "POST /auth/tokens (login)"
HEALTH_DURING_LOGIN = "GET /health/live during login"
GRPC_GET_ME = "gRPC GetMe (Bearer)"

#: Events offered per second while commit-to-publish latency is measured (the goal's load).
EVENT_RATE = 500.0
#: Events in the end-to-end backlog per second of a round: at the ~60/s measured so far, 1.5 times its length.
EVENT_BACKLOG_PER_SECOND = 100
#: Jobs per second of a round in the throughput measurements, and the paced rate of the latency one.
JOBS_PER_SECOND = 1000
JOB_RATE = 50.0

EVENTS_END_TO_END = "events end to end (commit, relay, RabbitMQ, 1 consumer process)"
EVENTS_COMMIT_TO_PUBLISH = f"events commit-to-publish ({EVENT_RATE:g}/s offered)"
EVENTS_CONSUMED = "events applied from a queued backlog (1 consumer process)"
JOBS_DRAIN = "jobs drained by one worker process"
JOBS_LIVE = "jobs enqueued and run at once (one worker process)"
JOBS_ENQUEUE_TO_START = f"jobs enqueue-to-start ({JOB_RATE:g}/s offered)"

#: Keep-alive connections for the read scenarios: enough to keep every worker busy.
READ_CONNECTIONS = 16
#: Users per bulk request: the contract's maximum.
BULK_SIZE = 1000
#: Milliseconds between the latency probe's requests: a probe, not a second load.
PROBE_PAUSE_MS = 10

FIRST_PAGE_QUERY = {
    "email__ilike": "corp", "is_active": "true", "order_by": "-created_at", "with_total": "false", "limit": "50"
}  # fmt: skip
USERS_FIRST_PAGE = "GET /users: first page, filtered and ordered"
USERS_FIRST_PAGE_IN_PROCESS = "GET /users: first page, filtered and ordered, in-process (one at a time)"
#: Requests of the in-process page per second of a round (each costs a few milliseconds).
IN_PROCESS_REQUESTS_PER_SECOND = 50
#: The rows of :class:`TaskListingScenario` start with this; its goal is a median under 20 ms.
TASKS_IN_PROCESS = "tasks listing in-process, largest organization, RLS on:"


@dataclass(frozen=True, slots=True)
class Targets:
    """What a run has set up: the servers, the credentials and the listing position the loads use.

    The servers only some scenarios need are empty when no chosen scenario needs them.
    """

    wrk: str
    settings: Settings
    service: str
    baseline: str
    user_token: str
    api_key: str
    admin_token: str
    login_body: str
    deep_cursor: str
    #: ``host:port`` of ``just grpc`` and of the bare gRPC server (``bench.grpc_baseline``).
    grpc_service: str = ""
    grpc_baseline: str = ""
    #: The PostgreSQL server, for the event pipeline's databases of its own.
    postgres_server: str = ""
    broker: str = ""
    #: A Redis database apart from the service's, whose job stream is the bench's alone.
    jobs_redis: str = ""


class Reference(Protocol):
    """A ceiling to compare a scenario with, measured the same way every time."""

    @property
    def name(self) -> str: ...

    def measure(self, targets: Targets, seconds: float) -> Result: ...


class Scenario(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def reference(self) -> Reference | None:
        """The ceiling, measured alternately with the scenario; None when there is none."""

    @property
    def warms_up(self) -> bool:
        """Whether a short run first fills pools and caches (dropped from the results)."""

    @property
    def duration_factor(self) -> float:
        """Multiplies the run's duration: slow operations need longer runs for as many samples."""

    def run(self, targets: Targets, seconds: float) -> list[tuple[str, Result]]:
        """Named results; the first is the scenario's own, compared with the reference."""


LoadOf = Callable[[Targets], Load]


@dataclass(frozen=True, slots=True)
class Baseline:
    """The bare app's ``GET /users/me`` under the same load as the service's."""

    name: str = "bare app, GET /users/me"

    def measure(self, targets: Targets, seconds: float) -> Result:
        return wrk.run(targets.wrk, _me(targets.baseline, _bearer(targets.user_token)), seconds)


@dataclass(frozen=True, slots=True)
class Argon2:
    """argon2id verifications with the service's parameters, one thread per core."""

    name: str = "argon2id verifications"

    def measure(self, targets: Targets, seconds: float) -> Result:
        return hashing.verifications(targets.settings, seconds, threads=_cores())


@dataclass(frozen=True, slots=True)
class GrpcBaseline:
    """The bare gRPC server's ``GetMe`` under the same load as the service's."""

    name: str = "bare gRPC server, GetMe"

    def measure(self, targets: Targets, seconds: float) -> Result:
        return grpc_load.run(_get_me(targets.grpc_baseline, targets.user_token), seconds)


BASELINE = Baseline()
ARGON2 = Argon2()
GRPC_BASELINE = GrpcBaseline()


@dataclass(frozen=True, slots=True)
class WrkScenario:
    name: str
    load: LoadOf
    reference: Reference | None = BASELINE
    duration_factor: float = 1.0
    warms_up: bool = True

    def run(self, targets: Targets, seconds: float) -> list[tuple[str, Result]]:
        return [(self.name, wrk.run(targets.wrk, self.load(targets), seconds))]


@dataclass(frozen=True, slots=True)
class ProbedScenario:
    """A load, and beside it a light probe measuring another route's latency under that load."""

    name: str
    load: LoadOf
    probe_name: str
    probe: LoadOf
    reference: Reference | None = BASELINE
    duration_factor: float = 1.0
    warms_up: bool = True

    def run(self, targets: Targets, seconds: float) -> list[tuple[str, Result]]:
        with ThreadPoolExecutor(2, thread_name_prefix="wrk") as pool:
            main = pool.submit(wrk.run, targets.wrk, self.load(targets), seconds)
            side = pool.submit(wrk.run, targets.wrk, self.probe(targets), seconds)
            return [(self.name, main.result()), (self.probe_name, side.result())]


@dataclass(frozen=True, slots=True)
class GrpcScenario:
    """``just grpc``'s ``GetMe`` with a Bearer token, driven by the gRPC client as its reference is."""

    name: str = GRPC_GET_ME
    reference: Reference | None = GRPC_BASELINE
    duration_factor: float = 1.0
    warms_up: bool = True

    def run(self, targets: Targets, seconds: float) -> list[tuple[str, Result]]:
        return [(self.name, grpc_load.run(_get_me(targets.grpc_service, targets.user_token), seconds))]


@dataclass(frozen=True, slots=True)
class EventsScenario:
    """The event pipeline of ``just bench-events``: consumer, end-to-end and latency stages, in a database of its own.

    A backlog of :data:`EVENT_BACKLOG_PER_SECOND` events per second of the round, published
    by one relay process and applied from the queue by one consumer process: events/s and
    the consumer's CPU time per message. End to end: another such backlog, released to one
    consumer process (with its relay): events/s until the last is applied. Then
    :data:`EVENT_RATE` events/s offered for the round's length, one relay process: the rate
    committed and each event's commit-to-publish latency. Errors are the retries and
    failures the processes logged.
    """

    name: str = EVENTS_END_TO_END
    reference: Reference | None = None
    duration_factor: float = 1.0
    warms_up: bool = False

    def run(self, targets: Targets, seconds: float) -> list[tuple[str, Result]]:
        plan = events.Plan(
            stages=("consumer", "end-to-end", "latency"),
            events=round(EVENT_BACKLOG_PER_SECOND * seconds),
            runs=1,
            consumers=(1,),
            rate=EVENT_RATE,
            seconds=seconds,
        )
        measured = events.measure_pipeline(plan, targets.postgres_server, targets.broker)
        [run] = measured["throughput"][0]["runs"]
        latency = measured["latency"]
        # The run's warnings are counted once, on the end-to-end row.
        consumed = _throughput(plan.events, run["consumer_per_s"], 0)
        return [
            (self.name, _throughput(plan.events, run["end_to_end_per_s"], int(run["warnings"]))),
            (EVENTS_CONSUMED, dataclasses.replace(consumed, cpu_ms=run["consumer_cpu_ms_per_event"])),
            (
                EVENTS_COMMIT_TO_PUBLISH,
                Result(
                    operations=latency["events"],
                    seconds=latency["events"] / latency["committed_per_s"],
                    errors=latency["warnings"],
                    p50_ms=latency["p50_ms"],
                    p99_ms=latency["p99_ms"],
                ),
            ),
        ]


@dataclass(frozen=True, slots=True)
class InProcessScenario:
    """One request at a time through the app built in the bench's own process: the CPU time it costs.

    What a page costs the application itself, apart from the network, the server and the
    load around it (``bench.inprocess``); the service's admin token authenticates it.
    """

    name: str
    path: str
    params: dict[str, str]
    reference: Reference | None = None
    duration_factor: float = 1.0
    warms_up: bool = False

    def run(self, targets: Targets, seconds: float) -> list[tuple[str, Result]]:
        requests = max(10, round(IN_PROCESS_REQUESTS_PER_SECOND * seconds))
        measured = inprocess.request_cpu(targets.settings, self.path, self.params, targets.admin_token, requests)
        return [(self.name, measured)]


@dataclass(frozen=True, slots=True)
class TaskListingScenario:
    """The pages of ``just bench-task-listing`` through the use case, as a member of the seed's largest organization.

    One page at a time in the bench's own process (``bench.task_listing``), so the transaction is
    scoped to the organization and row-level security applies; the elapsed time is the goal's.
    Its rows: the first page and the cursor page at ``depth`` pages.
    """

    depth: int
    name: str = TASKS_IN_PROCESS
    reference: Reference | None = None
    duration_factor: float = 1.0
    warms_up: bool = False

    def run(self, targets: Targets, seconds: float) -> list[tuple[str, Result]]:
        calls = max(10, round(IN_PROCESS_REQUESTS_PER_SECOND * seconds))
        timings = task_listing.use_case_timings(targets.settings, self.depth, calls)
        return [(f"{self.name} {page}", _in_process(*timed)) for page, timed in timings.items()]


def _in_process(elapsed_ms: list[float], cpu_ms: list[float]) -> Result:
    p50_ms, p99_ms = percentiles(elapsed_ms)
    return Result(len(elapsed_ms), sum(elapsed_ms) / 1000, 0, p50_ms, p99_ms, cpu_ms=statistics.median(cpu_ms))


@dataclass(frozen=True, slots=True)
class JobsScenario:
    """The job queue of ``just bench-jobs``, one round: no-op jobs through Redis and one worker process.

    Drain: :data:`JOBS_PER_SECOND` jobs per second of the round queued, then run by a fresh
    worker; live: as many enqueued while the worker runs; latency: :data:`JOB_RATE` jobs/s
    for the round's length, each job's enqueue-to-start. Errors are failed runs of jobs.
    """

    name: str = JOBS_DRAIN
    reference: Reference | None = None
    duration_factor: float = 1.0
    warms_up: bool = False

    def run(self, targets: Targets, seconds: float) -> list[tuple[str, Result]]:
        count, latency_jobs = round(JOBS_PER_SECOND * seconds), round(JOB_RATE * seconds)
        measured = asyncio.run(jobs.run(targets.jobs_redis, count, 1, latency_jobs, JOB_RATE))
        return [
            (self.name, _throughput(count, measured["drain_jobs_per_second"][0], measured["drain_failed"][0])),
            (JOBS_LIVE, _throughput(count, measured["live_jobs_per_second"][0], measured["live_failed"][0])),
            (
                JOBS_ENQUEUE_TO_START,
                Result(
                    operations=latency_jobs,
                    seconds=latency_jobs / measured["latency_reached_per_second"][0],
                    errors=measured["latency_failed"][0],
                    p50_ms=measured["latency_median_ms"][0],
                    p99_ms=measured["latency_p99_ms"][0],
                ),
            ),
        ]


def scenarios(cursor_depth: int, task_pages: int = task_listing.DEPTH) -> Sequence[Scenario]:
    """Every scenario, in the order they run; ``cursor_depth`` is the deep cursor's row number,
    ``task_pages`` the pages of 50 tasks before the tasks' cursor page."""
    return [
        WrkScenario(HEALTH, lambda t: Load(t.service + "/health/live", READ_CONNECTIONS)),
        WrkScenario(ME_BEARER, lambda t: _me(t.service, _bearer(t.user_token))),
        WrkScenario(ME_API_KEY, lambda t: _me(t.service, {"X-API-Key": t.api_key})),
        GrpcScenario(),
        WrkScenario(USERS_FIRST_PAGE, _first_page),
        InProcessScenario(USERS_FIRST_PAGE_IN_PROCESS, USERS, FIRST_PAGE_QUERY),
        WrkScenario(f"GET /users: cursor page at depth {cursor_depth:,}", _deep_page),
        TaskListingScenario(task_pages),
        ProbedScenario(
            LOGIN,
            _login,
            HEALTH_DURING_LOGIN,
            lambda t: Load(
                t.service + "/health/live", connections=1, script="probe.lua", script_args=[str(PROBE_PAUSE_MS)]
            ),
            reference=ARGON2,
            duration_factor=2.0,
        ),
        # Before the bulk creation: every user it creates is an event the service then relays for a while.
        EventsScenario(),
        JobsScenario(),
        WrkScenario(f"POST /users/bulk ({BULK_SIZE:,} users)", _bulk),
    ]


def _cores() -> int:
    return os.cpu_count() or 1


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _me(base_url: str, headers: dict[str, str]) -> Load:
    return Load(base_url + ME, READ_CONNECTIONS, headers=headers)


def _get_me(target: str, token: str) -> GrpcLoad:
    # As many calls in flight as the HTTP reads keep connections busy.
    return GrpcLoad(target, [("authorization", f"Bearer {token}")], in_flight=READ_CONNECTIONS)


def _throughput(operations: int, per_second: float, errors: int) -> Result:
    """A backlog worked off as a whole: its rate, and no per-operation latency."""
    return Result(operations=operations, seconds=operations / per_second, errors=errors, p50_ms=None, p99_ms=None)


def _first_page(t: Targets) -> Load:
    query = urlencode(FIRST_PAGE_QUERY)
    return Load(f"{t.service}{USERS}?{query}", READ_CONNECTIONS, headers=_bearer(t.admin_token))


def _deep_page(t: Targets) -> Load:
    query = urlencode({"order_by": "-created_at", "with_total": "false", "limit": "50", "cursor": t.deep_cursor})
    return Load(f"{t.service}{USERS}?{query}", READ_CONNECTIONS, headers=_bearer(t.admin_token))


def _login(t: Targets) -> Load:
    # As many sign-ins at once as the ceiling has hashing threads; each waits ~a hash's time.
    return Load(
        t.service + "/api/v1/auth/tokens", _cores(), script="post.lua", script_args=[t.login_body], timeout_seconds=60
    )


def _bulk(t: Targets) -> Load:
    # A tag of its own for every wrk process, so that no two loads ever send the same email.
    tag = secrets.token_hex(4)
    return Load(
        t.service + USERS + "/bulk",
        _cores(),
        script="bulk.lua",
        script_args=[tag, str(BULK_SIZE)],
        headers=_bearer(t.admin_token),
        timeout_seconds=60,
    )
