"""Background jobs as operators run them: ``just worker`` and ``just scheduler`` as real processes.

Each test has a Redis of its own (``stoppable_redis``) and an SMTP server of its own
(aiosmtpd, ``smtp``); the API runs in-process with its lifespan, so its outbox relay
enqueues the jobs exactly as a served API does. The worker logs JSON lines, which the
tests read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio
from httpx import ASGITransport, AsyncClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from app.bootstrap import Container, build_container
from app.infrastructure.db.models import RefreshTokenModel, SentEmailModel, SessionModel
from app.infrastructure.jobs.broker import CONSUMER_GROUP, JOB_STREAM
from app.interfaces.http.app import create_app
from tests.conftest import make_settings
from tests.e2e.helpers import PASSWORD, bearer, sign_in, sign_up
from tests.support.processes import STARTUP_TIMEOUT_SECONDS, free_port, kill, running, started
from tests.support.servers import RedisServer
from tests.support.smtp import SmtpSink

#: Bound on waiting for a job's effect once the worker runs.
EFFECT_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.1
EMAIL = "ada@example.com"


@asynccontextmanager
async def api(database_url: str, redis_url: str) -> AsyncIterator[tuple[Container, AsyncClient]]:
    """The HTTP app on Redis, in-process, with its lifespan (and so its outbox relay) running."""
    settings = make_settings(database_url, REDIS_URL=redis_url)
    container = build_container(settings)
    app = create_app(settings, container)
    async with app.lifespan():
        transport = ASGITransport(app=app)  # type: ignore[arg-type]  # see tests/conftest.py
        async with AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            yield container, client


@dataclass
class JsonLog:
    """A process's log of JSON lines (``LOG_FORMAT=json``), read as it grows."""

    path: Path

    def events(self, name: str) -> list[dict[str, Any]]:
        """The lines for event ``name``, in order."""
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        parsed = [json.loads(line) for line in lines if line.startswith("{")]
        return [event for event in parsed if event.get("event") == name]

    async def wait_for(self, name: str, count: int = 1) -> list[dict[str, Any]]:
        for _ in range(round(EFFECT_TIMEOUT_SECONDS / POLL_SECONDS)):
            if len(found := self.events(name)) >= count:
                return found
            await asyncio.sleep(POLL_SECONDS)
        pytest.fail(f"no {count} {name!r} in {self.path.name}:\n{self.path.read_text()[-4000:]}")


@dataclass
class Worker:
    process: asyncio.subprocess.Process
    log: JsonLog
    metrics_port: int

    async def counted(self, series: str, job: str, *, at_least: float = 0) -> float:
        """``app_jobs_<series>_total{job=…}`` on the worker's own metrics endpoint, once it reaches ``at_least``.

        (A job's log lines come before its run is counted: the count may lag them a moment.)
        """
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(round(EFFECT_TIMEOUT_SECONDS / POLL_SECONDS)):
                scraped = await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")
                if (value := sample(scraped.text, f"app_jobs_{series}_total", job)) >= at_least:
                    return value
                await asyncio.sleep(POLL_SECONDS)
        pytest.fail(f"app_jobs_{series}_total{{job={job!r}}} stayed under {at_least}")


def sample(exposition: str, name: str, job: str) -> float:
    for family in text_string_to_metric_families(exposition):
        for found in family.samples:
            if found.name == name and found.labels == {"job": job}:
                return found.value
    return 0.0


def job_env(database_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    return {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "job-test-secret-key-0123456789abcdefghij",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "JOB_RETRY_BASE_SECONDS": "0.2",
        "JOB_REDELIVERY_SECONDS": "2",
        **overrides,
    }


@asynccontextmanager
async def worker(env: dict[str, str], log_path: Path) -> AsyncIterator[Worker]:
    """``just worker``, once it serves its metrics (which it starts before it takes jobs)."""
    port = free_port()
    async with started("worker", {**env, "JOB_METRICS_PORT": str(port)}, log_path) as process:
        handle = Worker(process, JsonLog(log_path), port)
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(round(STARTUP_TIMEOUT_SECONDS / POLL_SECONDS)):
                if process.returncode is not None:
                    pytest.fail(f"the worker exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
                try:
                    await client.get(f"http://127.0.0.1:{port}/metrics")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(POLL_SECONDS)
            else:
                pytest.fail(f"the worker did not start in time:\n{log_path.read_text()[-4000:]}")
        yield handle


async def sent_emails(container: Container) -> list[tuple[str, str]]:
    async with container.engine.connect() as connection:
        rows = await connection.execute(select(SentEmailModel.user_id, SentEmailModel.kind))
        return [(str(user_id), kind) for user_id, kind in rows]


async def test_a_sign_up_gets_exactly_one_welcome_email_from_the_worker(
    database_url: str, stoppable_redis: RedisServer, smtp: SmtpSink, tmp_path: Path
) -> None:
    env = job_env(database_url, stoppable_redis.url, SMTP_URL=smtp.url)
    async with api(database_url, stoppable_redis.url) as (container, client), worker(env, tmp_path / "w.log") as w:
        user = await sign_up(client, EMAIL, first_name="Ada")
        (message,) = await smtp.wait_for(1, within=EFFECT_TIMEOUT_SECONDS)

        # The job runs again (a retry or redelivery would do the same): it must not send again.
        await container.jobs.send_welcome_email.kiq(user["id"])
        skipped = await w.log.wait_for("welcome_email_skipped")
        succeeded = await w.counted("succeeded", "send_welcome_email", at_least=2)

    assert message["To"] == EMAIL
    assert message["Subject"] == "Welcome aboard"
    assert message["Message-ID"] == f"<welcome.{user['id']}@example.com>"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert text.get_content().startswith("Hello Ada,")
    assert "/verify-email?token=" in text.get_content()
    assert "<p>Hello Ada,</p>" in html.get_content()
    assert len(smtp.messages) == smtp.attempts == 1
    assert [e["user_id"] for e in w.log.events("welcome_email_sent")] == [user["id"]]
    assert [e["user_id"] for e in skipped] == [user["id"]]
    assert succeeded == 2
    assert await sent_emails(container) == [(user["id"], "welcome")]


async def test_a_mail_server_down_for_the_first_attempts_gets_the_email_once_it_recovers(
    database_url: str, stoppable_redis: RedisServer, smtp: SmtpSink, tmp_path: Path
) -> None:
    smtp.refuse(2)
    env = job_env(database_url, stoppable_redis.url, SMTP_URL=smtp.url, JOB_MAX_ATTEMPTS="5")
    async with api(database_url, stoppable_redis.url) as (_, client), worker(env, tmp_path / "w.log") as w:
        user = await sign_up(client, EMAIL)
        await smtp.wait_for(1, within=EFFECT_TIMEOUT_SECONDS)
        await w.log.wait_for("welcome_email_sent")
        succeeded = await w.counted("succeeded", "send_welcome_email", at_least=1)
        counts = {s: await w.counted(s, "send_welcome_email") for s in ("failed", "retried", "dead")}

    assert smtp.attempts == 3
    assert [m["To"] for m in smtp.messages] == [EMAIL]
    failures = w.log.events("job_failed")
    assert [f["attempt"] for f in failures] == [1, 2]
    assert len({f["job_id"] for f in failures} | {e["job_id"] for e in w.log.events("welcome_email_sent")}) == 1
    assert all("mail server" in f["error"] and f["retry_in"] > 0 for f in failures)
    assert w.log.events("welcome_email_sent")[0]["user_id"] == user["id"]
    assert (counts, succeeded) == ({"failed": 2, "retried": 2, "dead": 0}, 1)


async def test_a_job_that_keeps_failing_stops_after_its_last_attempt_and_is_logged_dead(
    database_url: str, stoppable_redis: RedisServer, smtp: SmtpSink, tmp_path: Path
) -> None:
    smtp.refuse_all()
    env = job_env(database_url, stoppable_redis.url, SMTP_URL=smtp.url, JOB_MAX_ATTEMPTS="3")
    async with api(database_url, stoppable_redis.url) as (container, client), worker(env, tmp_path / "w.log") as w:
        await sign_up(client, EMAIL)
        (dead,) = await w.log.wait_for("job_dead")
        await asyncio.sleep(1.5)  # Time for a fourth attempt, were there one (the third waited up to 0.8 s).
        dead_count = await w.counted("dead", "send_welcome_email")

    assert smtp.attempts == 3
    assert smtp.messages == []
    assert (dead["job"], dead["attempt"], dead["max_attempts"], dead["level"]) == ("send_welcome_email", 3, 3, "error")
    assert dead["job_id"] == w.log.events("job_failed")[0]["job_id"]
    assert "mail server" in dead["exception"]
    assert dead_count == 1
    assert await sent_emails(container) == []


async def test_a_job_whose_worker_is_killed_mid_send_runs_again_on_a_new_worker(
    database_url: str, stoppable_redis: RedisServer, smtp: SmtpSink, tmp_path: Path
) -> None:
    smtp.stall(1)  # The first conversation hangs in DATA: the worker is mid-job when it dies.
    env = job_env(database_url, stoppable_redis.url, SMTP_URL=smtp.url)
    queue = redis.asyncio.Redis.from_url(stoppable_redis.url)
    async with api(database_url, stoppable_redis.url) as (container, client):
        async with worker(env, tmp_path / "first.log") as first:
            await sign_up(client, EMAIL)
            assert await asyncio.to_thread(smtp.stalled.wait, EFFECT_TIMEOUT_SECONDS)
            (pending,) = await queue.xpending_range(JOB_STREAM, CONSUMER_GROUP, "-", "+", 10)
            entries: Any = await queue.xrange(JOB_STREAM, pending["message_id"], pending["message_id"])
            job_id = json.loads(entries[0][1][b"data"])["task_id"]  # the job the dying worker holds
            await kill(first.process)  # SIGKILL to every process of the worker: no cleanup, no ack.
        smtp.release()

        async with worker(env, tmp_path / "second.log") as second:
            (sent,) = await second.log.wait_for("welcome_email_sent")
            messages = await smtp.wait_for(1, within=EFFECT_TIMEOUT_SECONDS)
        await queue.aclose()
        claimed = await sent_emails(container)

    assert first.log.events("welcome_email_sent") == []
    assert (sent["job_id"], sent["attempt"]) == (job_id, 1)  # the same job, redelivered (not a retry)
    assert [m["To"] for m in messages] == [EMAIL]
    assert smtp.attempts == 2
    assert len(claimed) == 1


async def test_a_welcome_email_given_up_is_sent_by_the_sweep_once_however_often_it_runs(
    database_url: str, stoppable_redis: RedisServer, smtp: SmtpSink, tmp_path: Path
) -> None:
    """The job is given up (the mail server refused every attempt); the next sweep sends the email, once.

    The sweep runs as the scheduler enqueues it (every ten minutes by default), here
    enqueued by hand three times: a user is owed the email from a second after signing up.
    """
    smtp.refuse(2)
    env = job_env(
        database_url, stoppable_redis.url, SMTP_URL=smtp.url, JOB_MAX_ATTEMPTS="2", WELCOME_SWEEP_AFTER_SECONDS="1"
    )
    async with api(database_url, stoppable_redis.url) as (container, client), worker(env, tmp_path / "w.log") as w:
        user = await sign_up(client, EMAIL)
        (dead,) = await w.log.wait_for("job_dead")
        await asyncio.sleep(1.0)  # Past the sweep's grace.
        sweeps = []
        for run in range(1, 4):
            await container.jobs.send_owed_welcome_emails.kiq()
            sweeps.append((await w.log.wait_for("welcome_emails_owed", run))[-1]["count"])
            await w.log.wait_for("welcome_email_sent")
        sent = await sent_emails(container)

    assert dead["job"] == "send_welcome_email"
    assert sweeps == [1, 0, 0]
    assert [m["To"] for m in smtp.messages] == [EMAIL]
    assert smtp.attempts == 3
    assert [e["user_id"] for e in w.log.events("welcome_email_sent")] == [user["id"]]
    assert sent == [(user["id"], "welcome")]


async def test_the_scheduled_purge_removes_ended_sessions_and_nothing_else(
    database_url: str, stoppable_redis: RedisServer, container: Container, client: AsyncClient, tmp_path: Path
) -> None:
    """The scheduler enqueues the purge (every minute here; hourly by default) and a worker runs it."""
    await sign_up(client, EMAIL)
    pairs = [await sign_in(client, EMAIL) for _ in range(4)]
    expired_long_ago, revoked_long_ago, expired_just_now, live = (pair["session_id"] for pair in pairs)
    now = datetime.now(UTC)
    async with container.engine.begin() as connection:
        for session_id, values in [
            (expired_long_ago, {"expires_at": now - timedelta(hours=2)}),
            (revoked_long_ago, {"revoked_at": now - timedelta(hours=2)}),
            (expired_just_now, {"expires_at": now - timedelta(minutes=10)}),  # within the hour's grace
        ]:
            await connection.execute(update(SessionModel).where(SessionModel.id == session_id).values(**values))

    env = job_env(database_url, stoppable_redis.url, PURGE_SESSIONS_CRON="* * * * *")
    async with (
        started("scheduler", env, tmp_path / "scheduler.log"),
        worker(env, tmp_path / "w.log") as w,
    ):
        purged = (await w.log.wait_for("sessions_purged"))[0]  # the first run; with this cron, more may follow

    async with container.engine.connect() as connection:
        remaining = {str(s) for s in (await connection.execute(select(SessionModel.id))).scalars()}
        tokens = {str(s) for s in (await connection.execute(select(RefreshTokenModel.session_id))).scalars()}
    assert purged["count"] == 2
    assert remaining == tokens == {expired_just_now, live}
    me = await client.get("/api/v1/users/me", headers=bearer(pairs[3]))
    assert me.status_code == 200  # the live session, and its user, are untouched


async def test_without_redis_the_api_sends_the_welcome_email_itself(tmp_path: Path) -> None:
    """Embedded mode (``just dev``: SQLite, no Redis, no SMTP): the job runs in the API process and logs the email."""
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'embedded.db'}",
        "REDIS_URL": "",
        "BROKER_URL": "",
        "SMTP_URL": "",
        "SECRET_KEY": "job-test-secret-key-0123456789abcdefghij",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "1024",
        "PASSWORD_HASH_PARALLELISM": "1",
    }
    async with running("dev", env, tmp_path) as client:
        user = await sign_up(client, EMAIL)
        log = JsonLog(tmp_path / "dev.log")
        (logged,) = await log.wait_for("email_logged")
        await log.wait_for("welcome_email_sent")
        for _ in range(round(EFFECT_TIMEOUT_SECONDS / POLL_SECONDS)):  # the count may lag the log a moment
            scraped = (await client.get("/metrics")).text
            if sample(scraped, "app_jobs_succeeded_total", "send_welcome_email"):
                break
            await asyncio.sleep(POLL_SECONDS)
        await sign_in(client, EMAIL, PASSWORD)

    assert (logged["to"], logged["subject"]) == (EMAIL, "Welcome aboard")
    assert logged["message_id"] == f"<welcome.{user['id']}@example.com>"
    assert sample(scraped, "app_jobs_succeeded_total", "send_welcome_email") == 1
    assert sample(scraped, "app_jobs_enqueued_total", "send_welcome_email") == 1


@pytest.mark.parametrize(
    ("setting", "value", "reason"),
    [
        ("REDIS_URL", "", "Invalid setting: REDIS_URL: required by a worker"),
        ("SMTP_URL", "ftp://mail.example.com", "Invalid setting: SMTP_URL"),
    ],
)
async def test_a_worker_that_cannot_start_stops_and_says_why(
    database_url: str, setting: str, value: str, reason: str, tmp_path: Path
) -> None:
    """Rather than being restarted for ever by Taskiq's supervisor with settings that cannot improve."""
    env = {**job_env(database_url, "redis://127.0.0.1:1/0"), setting: value}
    async with started("worker", env, tmp_path / "w.log") as process:
        await asyncio.wait_for(process.wait(), timeout=STARTUP_TIMEOUT_SECONDS)
    output = (tmp_path / "w.log").read_text()
    assert output.count(reason) == 1, output
    assert process.returncode != 0, output
