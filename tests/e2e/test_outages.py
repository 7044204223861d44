"""Backing servers failing under the service as operators run it (``just serve``, ``just worker``).

Each test stops a throwaway server (never the suite's own) mid-work and starts it again on
the same port with the same data. What an outage may cost is a fast, well-formed refusal
while it lasts; never a hang, a 500, a restart of the service, or anything that was
acknowledged: a write, the job a committed sign-up starts, or the event it publishes.

Each test records what it measured (``record_property``); ``--junitxml=FILE`` writes it out.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import InstrumentedAttribute

from app.bootstrap import Container
from app.infrastructure.db.models import SentEmailModel
from app.infrastructure.jobs.broker import JOB_STREAM
from app.infrastructure.outbox.model import OutboxModel
from app.interfaces.grpc.v1 import auth_pb2
from tests.conftest import make_settings
from tests.e2e.grpc_helpers import private_server
from tests.e2e.helpers import PASSWORD, assert_unavailable, bearer, registered, sign_up
from tests.e2e.test_consumer import encoded, envelope, rabbit_send
from tests.e2e.test_jobs import JsonLog
from tests.support.events import arriving, bound_queue, deliveries, received
from tests.support.processes import running, server_env, started
from tests.support.servers import PostgresServer, RabbitServer, RedisServer
from tests.support.smtp import SmtpSink
from tests.support.waiting import ANSWER_WITHIN_SECONDS, until

#: Bound on the service serving again once its database is back (the relay's and the pool's
#: reconnects are immediate; this leaves room for a busy machine).
RECOVER_WITHIN_SECONDS = 30.0
#: How long traffic runs in each phase: enough for every client to try every request several times.
PHASE_SECONDS = 2.0
CLIENTS = 4
#: Bound on each client's loop, whatever the phases do.
MAX_ROUNDS = 2000


def dsn(url: str) -> str:
    """The asyncpg DSN of a SQLAlchemy URL, for looking at the database directly."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class Answer:
    """One request: when it started (monotonic clock), how long it took, what came back."""

    started: float
    elapsed: float
    response: httpx.Response

    @property
    def ended(self) -> float:
        return self.started + self.elapsed


@dataclass
class Traffic:
    """Sign-ups, profile updates and reads from a few concurrent clients, each answer recorded.

    ``signed_up`` holds every sign-up answered 201, ``profile`` each client's last profile
    update answered 200: the writes the service acknowledged, which must all be stored.
    """

    client: httpx.AsyncClient
    answers: list[Answer] = field(default_factory=list)
    signed_up: list[str] = field(default_factory=list)
    profile: dict[str, int] = field(default_factory=dict)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        started = time.monotonic()
        response = await self.client.request(method, url, **kwargs)
        self.answers.append(Answer(started, time.monotonic() - started, response))
        return response

    async def run_client(self, index: int) -> None:
        """One client's loop until ``finished``: sign up someone new, update its own profile, read it."""
        email = f"client{index}@example.com"
        tokens = await registered(self.client, email)
        for round_ in range(MAX_ROUNDS):
            if self.finished.is_set():
                return
            new = f"client{index}.{round_}@example.com"
            if (await self.send("POST", "/api/v1/auth/sign-up", json={"email": new, "password": PASSWORD})).is_success:
                self.signed_up.append(new)
            patched = await self.send(
                "PATCH", "/api/v1/users/me", json={"first_name": f"n{round_}"}, headers=bearer(tokens)
            )
            if patched.is_success:
                self.profile[email] = round_
            await self.send("GET", "/api/v1/users/me", headers=bearer(tokens))

    async def succeeded_since(self, moment: float) -> bool:
        """Whether a request that started at ``moment`` or later has succeeded (a poll for ``until``)."""
        return any(a.started >= moment and a.response.is_success for a in self.answers)

    def between(self, start: float, end: float) -> list[Answer]:
        """Answers to requests that started at ``start`` or later and ended by ``end``."""
        return [answer for answer in self.answers if answer.started >= start and answer.ended <= end]


def refusals(answers: list[Answer]) -> list[str]:
    """What each unsuccessful answer said."""
    return [f"{a.response.status_code} {a.response.text}" for a in answers if not a.response.is_success]


async def timed(probe: Callable[[], Awaitable[httpx.Response]]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await probe()
    return response, time.monotonic() - started


async def serving_pids(client: httpx.AsyncClient) -> set[str]:
    """The process ids the server's metrics report (one per serving process; there must be some)."""
    scraped = (await client.get("/metrics")).text
    pids = {
        line.split('pid="', 1)[1].split('"', 1)[0]
        for line in scraped.splitlines()
        if line.startswith("process_start_time_seconds{")
    }
    assert pids, scraped
    return pids


# ------------------------------------------------------------------------- PostgreSQL


async def assert_stored(server: PostgresServer, traffic: Traffic) -> None:
    """Every sign-up and the last profile update each client saw acknowledged are in the database."""
    connection = await asyncpg.connect(dsn(server.url))
    try:
        stored = {
            row["email"]: row["first_name"] for row in await connection.fetch("SELECT email, first_name FROM users")
        }
    finally:
        await connection.close()
    assert set(traffic.signed_up) <= stored.keys()
    for email, last_acknowledged in traffic.profile.items():
        # An update answered 503 may have committed all the same (its answer was lost): never older.
        assert int(stored[email].removeprefix("n")) >= last_acknowledged


@dataclass(frozen=True, slots=True)
class Outage:
    """When a server was stopped and started again (monotonic clock), and what readiness said meanwhile."""

    stopping: float
    stopped: float
    starting: float
    started: float
    #: When the first request sent after the start succeeded.
    recovered: float
    ready: httpx.Response
    ready_took: float
    live: httpx.Response


async def database_outage(server: PostgresServer, traffic: Traffic, *, graceful: bool) -> Outage:
    """Traffic with the database up, then down, then up again until a request succeeds."""
    await asyncio.sleep(PHASE_SECONDS)
    stopping = time.monotonic()
    await asyncio.to_thread(server.stop, graceful=graceful)
    stopped = time.monotonic()

    await asyncio.sleep(PHASE_SECONDS)
    ready, ready_took = await timed(lambda: traffic.client.get("/health/ready"))
    live = await traffic.client.get("/health/live")

    starting = time.monotonic()
    await asyncio.to_thread(server.start)
    started = time.monotonic()
    await until(
        lambda: traffic.succeeded_since(started), "a request succeeding after the restart", RECOVER_WITHIN_SECONDS
    )
    recovered = min(a.ended for a in traffic.answers if a.started >= started and a.response.is_success)
    return Outage(stopping, stopped, starting, started, recovered, ready, ready_took, live)


async def test_database_outages_are_fast_503s_and_lose_no_acknowledged_write(
    stoppable_postgres: PostgresServer, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """PostgreSQL killed, then shut down by an operator, while sign-ups, profile updates and reads flow.

    While it is down every request is a 503 problem within 2 s and readiness says so; once
    it is back the same process serves again at once, and every write it acknowledged is
    stored. (A restarting server turns connections away for a moment: that too is a 503.)
    """
    env = server_env(stoppable_postgres.url, RATE_LIMIT_AUTH="1000000/minute")
    async with running("serve", env, tmp_path) as client:
        pids = await serving_pids(client)
        traffic = Traffic(client)
        clients = asyncio.gather(*(traffic.run_client(i) for i in range(CLIENTS)))
        try:
            outages = [
                await database_outage(stoppable_postgres, traffic, graceful=graceful) for graceful in (False, True)
            ]
            await asyncio.sleep(PHASE_SECONDS)
        finally:
            traffic.finished.set()
            await clients
        back = await client.get("/health/ready")
        assert await serving_pids(client) == pids  # the same process, never restarted

    # Whatever straddled a stop or a start answered one way or the other: never a 500, never slowly.
    for answer in traffic.answers:
        if not answer.response.is_success:
            assert_unavailable(answer.response, answer.elapsed)
    up_since = 0.0
    for outage in outages:
        assert refusals(traffic.between(up_since, outage.stopping)) == []
        during = traffic.between(outage.stopped, outage.starting)
        assert {a.response.request.url.path for a in during} == {"/api/v1/auth/sign-up", "/api/v1/users/me"}
        assert len(refusals(during)) == len(during)
        assert outage.ready.status_code == 503
        assert outage.ready.json() == {"status": "error", "checks": {"database": "error"}}
        assert outage.ready_took < ANSWER_WITHIN_SECONDS
        assert outage.live.status_code == 200
        up_since = outage.recovered
    assert refusals(traffic.between(up_since, float("inf"))) == []
    assert back.status_code == 200

    await assert_stored(stoppable_postgres, traffic)

    refused = [a.elapsed for a in traffic.answers if not a.response.is_success]
    record_property("requests", len(traffic.answers))
    record_property("answered_503", len(refused))
    record_property("slowest_503_seconds", round(max(refused), 3))
    record_property("serving_again_after_start_seconds", [round(o.recovered - o.started, 3) for o in outages])
    record_property("acknowledged_sign_ups", len(traffic.signed_up))


#: The frozen-server test's DATABASE_TIMEOUT_SECONDS, and the bound it must keep: every wait on
#: the database (a pool slot, a new connection, a statement) ends within the timeout, and a
#: request waits at most twice (a pool slot, then a new connection), as the README states.
FROZEN_TIMEOUT_SECONDS = 1.0
FROZEN_BOUND_SECONDS = 2 * FROZEN_TIMEOUT_SECONDS
#: How long the server stays frozen: several timeouts, so that every client meets it more than once.
FROZEN_SECONDS = 4.0


async def test_a_frozen_database_is_a_503_within_the_bound_and_serves_again_once_it_thaws(
    stoppable_postgres: PostgresServer, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """Every PostgreSQL process stopped (SIGSTOP) while four clients write and read, then continued.

    A frozen server keeps its connections open and answers nothing: requests caught
    mid-statement and requests arriving meanwhile alike are 503 problems within the bound,
    never a hang; after SIGCONT the same process serves again (nothing in its pool is
    wedged by the statements it gave up on), and every acknowledged write is stored.
    """
    env = server_env(
        stoppable_postgres.url,
        RATE_LIMIT_AUTH="1000000/minute",
        DATABASE_TIMEOUT_SECONDS=str(FROZEN_TIMEOUT_SECONDS),
    )
    async with running("serve", env, tmp_path) as client:
        traffic = Traffic(client)
        clients = asyncio.gather(*(traffic.run_client(i) for i in range(CLIENTS)))
        try:
            await asyncio.sleep(PHASE_SECONDS)
            frozen = time.monotonic()
            stoppable_postgres.pause()
            await asyncio.sleep(FROZEN_SECONDS)
            thawed = time.monotonic()
            stoppable_postgres.resume()
            await until(
                lambda: traffic.succeeded_since(thawed), "a request succeeding after the thaw", RECOVER_WITHIN_SECONDS
            )
            recovered = min(a.ended for a in traffic.answers if a.started >= thawed and a.response.is_success)
            await asyncio.sleep(PHASE_SECONDS)
        finally:
            stoppable_postgres.resume()
            traffic.finished.set()
            await clients

    refused = [a for a in traffic.answers if not a.response.is_success]
    for answer in refused:
        assert_unavailable(answer.response, answer.elapsed)
    slowest = max(a.elapsed for a in traffic.answers if a.ended >= frozen and a.started <= thawed)
    assert slowest < FROZEN_BOUND_SECONDS
    caught = [a for a in refused if a.started < frozen]  # already running when the server froze
    during = traffic.between(frozen + FROZEN_TIMEOUT_SECONDS, thawed)
    assert during, "no request was answered while the server was frozen"
    assert len(refusals(during)) == len(during)
    assert refusals(traffic.between(recovered, float("inf"))) == []
    await assert_stored(stoppable_postgres, traffic)

    record_property("frozen_seconds", FROZEN_SECONDS)
    record_property("requests", len(traffic.answers))
    record_property("answered_503", len(refused))
    record_property("caught_mid_request_503", len(caught))
    record_property("slowest_answer_while_frozen_seconds", round(slowest, 3))
    record_property("serving_again_after_thaw_seconds", round(recovered - thawed, 3))


# ------------------------------------------------------------------------------ Redis

#: Sign-ups per test: each starts a welcome-email job.
SIGN_UPS = 10
#: Bound on every job having run once Redis is back. The relay retries a failed hand-over
#: with backoff (1 s, doubling to 30 s), the worker its reads (0.5 s, doubling to 10 s):
#: after an outage of L seconds both are back within min(L, 30) s; the rest is room for a
#: busy machine.
JOBS_WITHIN_SECONDS = 60.0
#: The long Redis outage: longer than several of the relay's backoff steps (1 + 2 + 4 s) and
#: the worker's (0.5 + 1 + 2 + 4 s). Longer only adds a longer wait for the next step after it.
REDIS_OUTAGE_SECONDS = 8.0
SIGN_UP_EVERY_SECONDS = 0.5
#: What a subscriber may see of one event: at least once, and a fault elsewhere adds nothing.
MAX_DELIVERIES = 2


def job_env(database_url: str, redis_url: str, smtp: SmtpSink, **overrides: str) -> dict[str, str]:
    """Settings for the API and the worker alike: this Redis for jobs, this SMTP server for email."""
    return server_env(
        database_url, REDIS_URL=redis_url, SMTP_URL=smtp.url, RATE_LIMIT_AUTH="1000000/minute", **overrides
    )


async def pending(container: Container, destination: InstrumentedAttribute[datetime | None]) -> int:
    """Committed events the relay has not handed to ``destination`` yet (``OutboxModel.published_at``: the
    broker, or ``handled_at``: the jobs they start)."""
    async with container.engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(OutboxModel).where(destination.is_(None)))
    return int(count or 0)


async def unpublished(container: Container) -> int:
    return await pending(container, OutboxModel.published_at)


async def unhandled(container: Container) -> int:
    return await pending(container, OutboxModel.handled_at)


async def timed_sign_ups(client: httpx.AsyncClient, emails: list[str], *, every: float = 0.0) -> list[float]:
    """Sign each email up (each a 201, or this fails), one every ``every`` seconds; how long each took."""
    answered = []
    for email in emails:
        began = time.monotonic()
        await sign_up(client, email)
        answered.append(time.monotonic() - began)
        await asyncio.sleep(every)
    return answered


async def sign_ups_held_in_outbox(
    client: httpx.AsyncClient,
    container: Container,
    emails: list[str],
    held: Callable[[Container], Awaitable[int]] = unpublished,
) -> list[float]:
    """Sign each email up during an outage (each a 201, or this fails), then wait until
    every one's event waits in the outbox (by ``held``); how long each sign-up took."""
    answered = await timed_sign_ups(client, emails)

    async def all_held() -> bool:
        return await held(container) == len(emails)

    await until(all_held, "the outage's events waiting in the outbox", ANSWER_WITHIN_SECONDS)
    return answered


async def registered_ids(container: Container) -> list[str]:
    """The envelope ids of every ``user.registered`` event in the outbox, in commit order."""
    async with container.engine.connect() as connection:
        ids = await connection.scalars(
            select(OutboxModel.id).where(OutboxModel.type == "user.registered").order_by(OutboxModel.id)
        )
        return [str(event_id) for event_id in ids]


async def unpublished_ids(container: Container) -> list[str]:
    """The envelope ids of the events waiting in the outbox, in the order they must leave."""
    async with container.engine.connect() as connection:
        ids = await connection.scalars(
            select(OutboxModel.id).where(OutboxModel.published_at.is_(None)).order_by(OutboxModel.id)
        )
        return [str(event_id) for event_id in ids]


async def welcomed(container: Container) -> int:
    """Welcome emails the jobs recorded as sent (one row per user, whatever the runs)."""
    async with container.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(SentEmailModel)) or 0)


async def jobs_waiting(redis_url: str) -> int:
    """Jobs in the stream (acknowledged ones are deleted), through a fresh connection: Redis may have restarted."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        return int(await client.xlen(JOB_STREAM))
    finally:
        await client.aclose()


def assert_each_welcomed_once(smtp: SmtpSink, emails: list[str]) -> None:
    assert sorted(message["To"] for message in smtp.messages) == sorted(emails)


async def test_sign_ups_during_a_redis_outage_are_published_at_once_and_each_welcomed_once_it_returns(
    container: Container,
    stoppable_redis: RedisServer,
    broker_url: str,
    smtp: SmtpSink,
    tmp_path: Path,
    *,
    record_property: Callable[[str, object], None],
) -> None:
    """Redis killed for 8 s under the API (with RabbitMQ) and a worker, while users keep signing up.

    Sign-ups still succeed, and their events reach a bound RabbitMQ queue during the
    outage, each once: the job queue's outage holds up the jobs only, and repeats nothing
    to the broker. When Redis is back (empty: this one keeps nothing) the relay enqueues the
    jobs, and the worker, which rode out the outage, sends each user's welcome email, once.
    """
    env = job_env(container.settings.database_url, stoppable_redis.url, smtp, BROKER_URL=broker_url)
    async with (
        bound_queue(broker_url) as queue,
        running("serve", env, tmp_path) as client,
        started("worker", env, tmp_path / "worker.log"),
    ):
        await sign_up(client, "before@example.com")
        assert len(await smtp.wait_for(1, within=JOBS_WITHIN_SECONDS)) == 1  # the worker is at work

        await asyncio.to_thread(stoppable_redis.stop)
        stopped = time.monotonic()
        emails = [f"outage{i}@example.com" for i in range(round(REDIS_OUTAGE_SECONDS / SIGN_UP_EVERY_SECONDS))]
        answered = await timed_sign_ups(client, emails, every=SIGN_UP_EVERY_SECONDS)
        published_during = await unpublished(container) == 0
        held_during = await unhandled(container)
        restarted = time.monotonic()
        await asyncio.to_thread(stoppable_redis.start)
        await smtp.wait_for(len(emails) + 1, within=JOBS_WITHIN_SECONDS)
        all_sent = time.monotonic() - restarted

        async def all_recorded() -> bool:
            return await welcomed(container) == len(emails) + 1 and await unhandled(container) == 0

        await until(all_recorded, "every welcome recorded and every event handed over", JOBS_WITHIN_SECONDS)
        ids = await registered_ids(container)
        got = await deliveries(queue, ids, within=EVENTS_WITHIN_SECONDS)
        got += await arriving(queue, LINGER_SECONDS)

    assert max(answered) < ANSWER_WITHIN_SECONDS
    assert published_during  # every event reached RabbitMQ while Redis was down
    assert held_during == len(emails)  # and every job waited for Redis
    assert_each_welcomed_once(smtp, ["before@example.com", *emails])
    times = Counter(message.message_id for message in got)
    assert set(times) == set(ids)
    assert max(times.values()) <= MAX_DELIVERIES, times
    record_property("redis_outage_seconds", round(restarted - stopped, 3))
    record_property("sign_ups_during_outage", len(emails))
    record_property("slowest_sign_up_during_outage_seconds", round(max(answered), 3))
    record_property("broker_deliveries_per_event_max", max(times.values()))
    record_property("broker_duplicates", sum(times.values()) - len(times))
    record_property("all_emails_sent_after_restart_seconds", round(all_sent, 3))
    record_property("emails", len(smtp.messages))


async def test_jobs_waiting_in_redis_run_after_it_restarts(
    container: Container, persistent_redis: RedisServer, smtp: SmtpSink, tmp_path: Path
) -> None:
    """Jobs enqueued while no worker runs are still there after Redis is killed and restarted, and all run.

    This holds only because this Redis, like a production one must, keeps an append-only
    file: without it the restart would empty the stream and the jobs would be lost (their
    events are already marked handed over).
    """
    env = job_env(container.settings.database_url, persistent_redis.url, smtp)
    emails = [f"waiting{i}@example.com" for i in range(SIGN_UPS)]
    async with running("serve", env, tmp_path) as client:
        for email in emails:
            await sign_up(client, email)

        async def all_enqueued() -> bool:
            return await unpublished(container) == 0 and await jobs_waiting(persistent_redis.url) == SIGN_UPS

        await until(all_enqueued, "every welcome job in the stream", JOBS_WITHIN_SECONDS)
        await asyncio.to_thread(persistent_redis.stop)
        await asyncio.to_thread(persistent_redis.start)
        assert await jobs_waiting(persistent_redis.url) == SIGN_UPS  # the restart kept them

        async with started("worker", env, tmp_path / "worker.log"):
            await smtp.wait_for(SIGN_UPS, within=JOBS_WITHIN_SECONDS)

            async def all_recorded() -> bool:
                return await welcomed(container) == SIGN_UPS and await jobs_waiting(persistent_redis.url) == 0

            await until(all_recorded, "every welcome recorded and acknowledged", JOBS_WITHIN_SECONDS)

    assert_each_welcomed_once(smtp, emails)


# ------------------------------------------------- PostgreSQL under the worker and the consumer

#: Retries far shorter than the outage below: two attempts, 0.2 s apart at most.
SHORT_RETRIES = {"JOB_MAX_ATTEMPTS": "2", "JOB_RETRY_BASE_SECONDS": "0.2", "JOB_RETRY_MAX_SECONDS": "1"}
#: The processes log JSON lines, which the tests read.
JSON_LOGS = {"LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
#: After a restart, time for every process to see its pooled connections closed.
STALE_AFTER_SECONDS = 1.0


async def count_rows(url: str, table: str) -> int:
    connection = await asyncpg.connect(dsn(url))
    try:
        return int(await connection.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608 - a table of ours
    finally:
        await connection.close()


async def test_welcome_jobs_outlast_a_database_outage_longer_than_their_retries(
    stoppable_postgres: PostgresServer,
    stoppable_redis: RedisServer,
    smtp: SmtpSink,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    """A backlog of welcome jobs meets a worker whose database is down for longer than every retry.

    Each run that meets the outage is put off without spending an attempt, so none is
    given up; once PostgreSQL is back every user gets exactly one welcome email. The outage
    lasts until every job has been put off more often than it has attempts, however long
    the worker took to start.
    """
    max_attempts = int(SHORT_RETRIES["JOB_MAX_ATTEMPTS"])
    env = job_env(stoppable_postgres.url, stoppable_redis.url, smtp, **SHORT_RETRIES, **JSON_LOGS)
    emails = [f"backlog{i}@example.com" for i in range(SIGN_UPS)]
    log = JsonLog(tmp_path / "worker.log")

    def runs_put_off() -> Counter[str]:
        return Counter(event["job_id"] for event in log.events("job_postponed"))

    async with running("serve", env, tmp_path) as client:
        await timed_sign_ups(client, emails)

        async def backlog() -> bool:
            return await jobs_waiting(stoppable_redis.url) == len(emails)

        async def each_put_off_more_often_than_its_attempts() -> bool:
            runs = runs_put_off()
            return len(runs) == len(emails) and min(runs.values()) > max_attempts

        await until(backlog, "every welcome job waiting in Redis", JOBS_WITHIN_SECONDS)
        await asyncio.to_thread(stoppable_postgres.stop)
        stopped = time.monotonic()
        async with started("worker", env, log.path):
            await until(each_put_off_more_often_than_its_attempts, "every job put off often", JOBS_WITHIN_SECONDS)
            starting = time.monotonic()
            await asyncio.to_thread(stoppable_postgres.start)
            await smtp.wait_for(len(emails), within=JOBS_WITHIN_SECONDS)
            all_sent = time.monotonic() - starting

            async def all_recorded() -> bool:
                return await count_rows(stoppable_postgres.url, "sent_emails") == len(emails)

            await until(all_recorded, "every welcome recorded", JOBS_WITHIN_SECONDS)

    assert_each_welcomed_once(smtp, emails)
    postponed = log.events("job_postponed")
    # Every job met the outage more often than it has attempts, and spent none on it.
    assert set(runs_put_off()) == {event["job_id"] for event in log.events("welcome_email_sent")}
    assert {event["attempt"] for event in postponed} == {1}
    assert log.events("job_failed") == log.events("job_dead") == []
    record_property("database_outage_seconds", round(starting - stopped, 3))
    record_property("jobs_in_backlog", len(emails))
    record_property("runs_postponed", len(postponed))
    record_property("emails", len(smtp.messages))
    record_property("all_emails_sent_after_restart_seconds", round(all_sent, 3))


async def test_after_a_database_restart_no_request_job_or_message_fails_on_a_stale_connection(
    stoppable_postgres: PostgresServer,
    stoppable_redis: RedisServer,
    broker_url: str,
    smtp: SmtpSink,
    tmp_path: Path,
    *,
    record_property: Callable[[str, object], None],
) -> None:
    """The API (and its relay), gRPC, the worker and the consumer each pool connections; PostgreSQL restarts.

    The work that follows (sign-ups over REST and gRPC, their welcome emails, inbound
    messages) succeeds the first time in every process: no request or call is refused, no
    job or message is retried, and the relay fails no hand-over.
    """
    env = job_env(stoppable_postgres.url, stoppable_redis.url, smtp, BROKER_URL=broker_url, **JSON_LOGS)
    logs = {name: JsonLog(tmp_path / f"{name}.log") for name in ("serve", "worker", "consumer")}
    emails = [f"after{i}@example.com" for i in range(SIGN_UPS)]
    grpc_emails = [f"grpc.after{i}@example.com" for i in range(SIGN_UPS)]
    grpc_settings = make_settings(
        stoppable_postgres.url, REDIS_URL=stoppable_redis.url, SMTP_URL=smtp.url, BROKER_URL=broker_url
    )
    async with (
        running("serve", env, tmp_path) as client,
        private_server(grpc_settings) as rpc,
        started("worker", env, logs["worker"].path),
        # The consumer logs each message it applies at debug level.
        started("consumer", {**env, "LOG_LEVEL": "DEBUG"}, logs["consumer"].path),
    ):
        # Every pool holds connections: sign-ups (API, gRPC, relays), an email (worker), a message (consumer).
        before = await sign_up(client, "before@example.com")
        await rpc.auth.SignUp(auth_pb2.SignUp(email="grpc.before@example.com", password=PASSWORD))
        await smtp.wait_for(2, within=JOBS_WITHIN_SECONDS)
        await rabbit_send(broker_url, encoded(envelope("user.meta.merge", user_id=before["id"], meta={"n": 0})))
        await logs["consumer"].wait_for("inbound_applied")

        await asyncio.to_thread(stoppable_postgres.stop)
        await asyncio.to_thread(stoppable_postgres.start)
        restarted = datetime.now(UTC)
        await asyncio.sleep(STALE_AFTER_SECONDS)

        users = [await sign_up(client, email) for email in emails]  # each a 201, or this fails
        for email in grpc_emails:  # each answered, or this raises
            await rpc.auth.SignUp(auth_pb2.SignUp(email=email, password=PASSWORD))
        for index, user in enumerate(users):
            await rabbit_send(broker_url, encoded(envelope("user.meta.merge", user_id=user["id"], meta={"n": index})))
        await smtp.wait_for(2 * len(emails) + 2, within=JOBS_WITHIN_SECONDS)
        await logs["consumer"].wait_for("inbound_applied", len(users) + 1)

    assert_each_welcomed_once(smtp, ["before@example.com", "grpc.before@example.com", *emails, *grpc_emails])
    failures = {
        "worker": [*logs["worker"].events("job_failed"), *logs["worker"].events("job_postponed")],
        "consumer": logs["consumer"].events("inbound_retry"),
        "relay": [
            event
            for event in logs["serve"].events("outbox_relay_failed") + logs["serve"].events("outbox_destination_failed")
            if datetime.fromisoformat(event["timestamp"]) > restarted
        ],
    }
    assert failures == {"worker": [], "consumer": [], "relay": []}
    record_property("sign_ups_after_restart", len(users) + len(grpc_emails))
    record_property("jobs_and_messages_failed_after_restart", sum(len(events) for events in failures.values()))


# --------------------------------------------------------------------------- RabbitMQ

#: Bound on every event reaching the queue once the broker is back. The relay retries with
#: backoff (1 s, doubling, at most 30 s), so after an outage of L seconds it tries again
#: within min(L, 30) s of the node's return; the rest is room for a busy machine.
EVENTS_WITHIN_SECONDS = 45.0
#: How long to go on listening once every event came, for a duplicate that would follow
#: (a second publish would come with the relay's next batch, at once).
LINGER_SECONDS = 1.0


async def test_sign_ups_during_a_broker_outage_are_each_published_once_it_returns(
    container: Container,
    stoppable_rabbitmq: RabbitServer,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    """RabbitMQ killed under the API: sign-ups still succeed fast, and their events wait in the outbox.

    Once the node is back the relay publishes every one of them, in commit order, to a
    queue a subscriber had bound, each once.
    """
    env = server_env(
        container.settings.database_url, BROKER_URL=stoppable_rabbitmq.url, RATE_LIMIT_AUTH="1000000/minute"
    )
    emails = [f"outage{i}@example.com" for i in range(SIGN_UPS)]
    async with bound_queue(stoppable_rabbitmq.url) as queue, running("serve", env, tmp_path) as client:
        await sign_up(client, "before@example.com")
        (before,) = await received(queue, 1, within=EVENTS_WITHIN_SECONDS)

        async def all_published() -> bool:
            return await unpublished(container) == 0

        # Nothing in flight when the node dies: a publish whose confirm is lost would come twice, rightly.
        await until(all_published, "the first event marked published", EVENTS_WITHIN_SECONDS)
        await asyncio.to_thread(stoppable_rabbitmq.stop)
        answered = await sign_ups_held_in_outbox(client, container, emails)
        held = await unpublished_ids(container)
        restarting = time.monotonic()
        await asyncio.to_thread(stoppable_rabbitmq.start)
        restarted = time.monotonic()
        late = await deliveries(queue, held, within=EVENTS_WITHIN_SECONDS)
        all_arrived = time.monotonic() - restarted
        await until(all_published, "every event marked published", EVENTS_WITHIN_SECONDS)
        late += await arriving(queue, LINGER_SECONDS)

    assert max(answered) < ANSWER_WITHIN_SECONDS
    published = [message for message in late if message.message_id in held]
    assert [message.message_id for message in published] == held  # each once, in commit order
    envelopes = [json.loads(message.body) for message in published]
    assert [(e["type"], e["data"]["email"]) for e in envelopes] == [("user.registered", email) for email in emails]
    # Besides them, at most the first event again: the queue's own redelivery (its acknowledgement
    # may not have reached the node before the kill), not a second publish.
    others = [message for message in late if message.message_id not in held]
    assert all(message.message_id == before.message_id and message.redelivered for message in others)
    record_property("slowest_sign_up_during_outage_seconds", round(max(answered), 3))
    record_property("node_restart_seconds", round(restarted - restarting, 3))
    record_property("all_events_after_restart_seconds", round(all_arrived, 3))
