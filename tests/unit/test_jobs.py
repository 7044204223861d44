"""Jobs on the in-process broker (embedded mode): retries with backoff, giving up, delays, and the event trigger.

No I/O: the broker runs jobs in this event loop; the Redis broker is tested in the
integration and end-to-end tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from prometheus_client import REGISTRY
from taskiq import AsyncBroker, Context, TaskiqDepends
from taskiq.schedule_sources import LabelScheduleSource

from app.application.ports import DependencyUnavailable
from app.domain.users.events import UserDeactivated, UserProfileUpdated, UserRegistered
from app.infrastructure.config import Settings
from app.infrastructure.jobs.broker import create_job_broker
from app.infrastructure.jobs.deferred import DeferredJobs, JobUseCases
from app.infrastructure.jobs.definitions import DUE_REMINDERS_SCHEDULE_ID, PURGE_SCHEDULE_ID, WELCOME_SWEEP_SCHEDULE_ID
from app.infrastructure.jobs.middleware import OUTAGE_RETRY_MAX_SECONDS, RetryWithBackoff, attempt_of, waited_of
from app.infrastructure.outbox.envelope import envelope
from app.infrastructure.outbox.subscribers import CommittedEvents
from tests.unit.fakes import Harness


def counted(series: str, job: str) -> float:
    return REGISTRY.get_sample_value(f"app_jobs_{series}_total", {"job": job}) or 0.0


@pytest.fixture
async def broker() -> AsyncIterator[AsyncBroker]:
    broker = create_job_broker(Settings(job_max_attempts=3, job_retry_base_seconds=0.05, job_retry_max_seconds=0.2))
    yield broker
    await broker.shutdown()


class Runs:
    """What a test job saw of each of its runs: job id, attempt and when."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.seen: list[tuple[str, int, float]] = []

    async def run(self, context: Context) -> str:
        self.seen.append((context.message.task_id, attempt_of(context.message), time.monotonic()))
        if len(self.seen) <= self.failures:
            raise ConnectionError("the mail server is down")
        return "done"


def test_backoff_doubles_up_to_the_maximum_with_jitter_of_up_to_half() -> None:
    retry = RetryWithBackoff(max_attempts=10, base_delay=1.0, max_delay=30.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0), (6, 30.0), (9, 30.0)]:
        delays = [retry.backoff(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, min(delays), max(delays))
        assert max(delays) - min(delays) > ceiling / 10  # jittered, not fixed


async def test_a_failing_job_is_retried_with_growing_pauses_until_it_succeeds(broker: AsyncBroker) -> None:
    runs = Runs(failures=2)

    async def flaky(context: Context = TaskiqDepends()) -> str:
        return await runs.run(context)

    job = "unit.flaky"
    before = {series: counted(series, job) for series in ("enqueued", "failed", "retried", "succeeded", "dead")}
    task = broker.register_task(flaky, task_name=job)

    sent = await task.kiq()
    result = await sent.wait_result(timeout=5)

    assert result.return_value == "done"
    assert [(job_id, attempt) for job_id, attempt, _ in runs.seen] == [(sent.task_id, n) for n in (1, 2, 3)]
    first_pause, second_pause = (b[2] - a[2] for a, b in zip(runs.seen, runs.seen[1:], strict=False))
    assert first_pause >= 0.025  # at least half of 0.05 s
    assert second_pause >= 0.05  # at least half of 0.1 s
    after = {series: counted(series, job) - before[series] for series in before}
    assert after == {"enqueued": 1, "failed": 2, "retried": 2, "succeeded": 1, "dead": 0}
    assert (REGISTRY.get_sample_value("app_jobs_duration_seconds_count", {"job": job}) or 0) >= 3


async def test_a_job_that_keeps_failing_stops_after_the_last_attempt(broker: AsyncBroker) -> None:
    runs = Runs(failures=100)

    async def broken(context: Context = TaskiqDepends()) -> str:
        return await runs.run(context)

    job = "unit.broken"
    task = broker.register_task(broken, task_name=job)

    sent = await task.kiq()
    result = await sent.wait_result(timeout=5)

    assert result.is_err
    assert isinstance(result.error, ConnectionError)
    await asyncio.sleep(0.5)  # Time enough for a fourth attempt, were there one.
    assert [attempt for _, attempt, _ in runs.seen] == [1, 2, 3]
    assert (counted("dead", job), counted("retried", job), counted("failed", job)) == (1, 2, 3)


@pytest.mark.parametrize("outage_runs", [1, 4, 12])
async def test_a_database_outage_spends_no_attempt_however_long_it_lasts(broker: AsyncBroker, outage_runs: int) -> None:
    """More runs meet the outage than the job has attempts (3): it is put off each time, never given up."""
    seen: list[tuple[int, int]] = []

    async def needs_the_database(context: Context = TaskiqDepends()) -> str:
        seen.append((attempt_of(context.message), waited_of(context.message)))
        if len(seen) <= outage_runs:
            raise DependencyUnavailable("database")
        return "done"

    job = f"unit.outage{outage_runs}"
    task = broker.register_task(needs_the_database, task_name=job)

    sent = await task.kiq()
    result = await sent.wait_result(timeout=10)

    assert result.return_value == "done"
    assert seen == [(1, waited) for waited in range(outage_runs + 1)]  # the first attempt, waiting each time
    assert (counted("postponed", job), counted("retried", job), counted("dead", job)) == (outage_runs, 0, 0)


async def test_the_outage_backoff_is_capped_lower_than_a_failures() -> None:
    retry = RetryWithBackoff(max_attempts=3, base_delay=1.0, max_delay=300.0)
    assert max(retry.backoff(20, limit=OUTAGE_RETRY_MAX_SECONDS) for _ in range(200)) <= OUTAGE_RETRY_MAX_SECONDS
    assert max(retry.backoff(20) for _ in range(200)) > OUTAGE_RETRY_MAX_SECONDS


@pytest.mark.parametrize("dependency", ["mail server", "cache"])
async def test_other_dependencies_spend_attempts(broker: AsyncBroker, dependency: str) -> None:
    attempts: list[int] = []

    async def mails(context: Context = TaskiqDepends()) -> None:
        attempts.append(attempt_of(context.message))
        raise DependencyUnavailable(dependency)

    job = f"unit.unavailable.{dependency}"
    sent = await broker.register_task(mails, task_name=job).kiq()
    result = await sent.wait_result(timeout=5)

    assert result.is_err
    assert attempts == [1, 2, 3]
    assert (counted("postponed", job), counted("dead", job)) == (0, 1)


async def test_a_delayed_job_waits_its_delay(broker: AsyncBroker) -> None:
    started: list[float] = []

    async def note() -> None:
        started.append(time.monotonic())

    task = broker.register_task(note, task_name="unit.delayed")
    sent_at = time.monotonic()
    await task.kicker().with_labels(delay=0.3).kiq()
    await asyncio.sleep(0.1)
    assert started == []
    for _ in range(50):
        if started:
            break
        await asyncio.sleep(0.05)
    assert started
    assert started[0] - sent_at >= 0.3


def jobs_of(h: Harness) -> DeferredJobs:
    """The jobs as the composition root wires them, over the harness's use cases."""
    jobs = DeferredJobs(Settings())
    jobs.bind(
        JobUseCases(
            welcome_emails=h.welcome_emails,
            account_lifecycle=h.lifecycle,
            invitations=h.use_cases.invitations,
            session_purge=h.session_purge,
            task_emails=h.use_cases.task_emails,
        )
    )
    return jobs


async def test_a_registered_user_event_sends_the_welcome_email_once_however_often_it_comes() -> None:
    h = Harness()
    user = await h.sign_up()
    events = CommittedEvents()
    jobs = jobs_of(h)
    jobs.start_on(events)
    now = datetime.now(UTC)
    registered = envelope(UserRegistered(user_id=user.id, occurred_at=now, email=user.email), uuid4())
    updated = envelope(UserProfileUpdated(user_id=user.id, occurred_at=now, changed=()), uuid4())

    for handed in (registered, updated, registered):  # at least once: the relay may hand it over again
        assert (await events.publish_batch([handed])).count == 1
    await jobs.jobs.broker.wait_all()  # type: ignore[attr-defined]  # the in-process broker's
    await jobs.shutdown()

    assert [m.to for m in h.emails.sent] == [user.email]


async def test_a_subscriber_that_fails_fails_the_publish_so_the_relay_tries_again() -> None:
    events = CommittedEvents()

    async def unavailable(_: UserRegistered) -> None:
        raise ConnectionError("Redis is down")

    events.subscribe(UserRegistered, unavailable)
    user_id, now = uuid4(), datetime.now(UTC)
    batch = [
        envelope(UserDeactivated(user_id=user_id, occurred_at=now, reason="self"), uuid4()),
        envelope(UserRegistered(user_id=user_id, occurred_at=now, email="ada@example.com"), uuid4()),
    ]
    confirmed = await events.publish_batch(batch)

    # Nobody listens to the first: it is done. The second is to be relayed again.
    assert confirmed.count == 1
    assert isinstance(confirmed.error, ConnectionError)


async def test_the_scheduler_sees_the_periodic_jobs_on_their_default_schedules() -> None:
    """The purge hourly, the welcome sweep every ten minutes, the due-date reminders every fifteen."""
    source = LabelScheduleSource(jobs_of(Harness()).jobs.broker)  # what `just scheduler` reads
    await source.startup()

    schedules = await source.get_schedules()

    assert sorted((s.task_name, s.cron, s.schedule_id) for s in schedules) == [
        ("purge_expired_sessions", "0 * * * *", PURGE_SCHEDULE_ID),
        ("send_due_reminders", "*/15 * * * *", DUE_REMINDERS_SCHEDULE_ID),
        ("send_owed_welcome_emails", "*/10 * * * *", WELCOME_SWEEP_SCHEDULE_ID),
    ]
