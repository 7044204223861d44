"""Events go to the outbox with the change that caused them, and the relay publishes each once, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.application.auth.dto import ClientInfo
from app.application.users.dto import AdminUserPatch
from app.bootstrap import Container
from app.domain.users.events import UserRegistered
from app.domain.users.values import Role
from app.infrastructure.messaging.publisher import OneAtATime
from app.infrastructure.outbox.model import OutboxModel
from app.infrastructure.outbox.relay import OutboxRelay
from app.infrastructure.outbox.subscribers import CommittedEvents
from app.infrastructure.outbox.tracing import TraceHeaders
from tests.conftest import embedded_container

PASSWORD = "correct horse battery"


@pytest.fixture(params=["postgresql", "sqlite"])
async def either(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Container]:
    """The suite's PostgreSQL container, or one on the embedded SQLite database (``just dev``), which relays too."""
    if request.param == "postgresql":
        yield request.getfixturevalue("container")
        return
    async with embedded_container(tmp_path / "embedded.db") as embedded:
        yield embedded


class RecordingPublisher(OneAtATime):
    """Collects what the relay hands over; fails on demand, like a broker going away."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.published: list[dict[str, Any]] = []
        self.fail_after = fail_after
        self.received = asyncio.Event()

    async def publish(self, envelope: dict[str, Any], trace: TraceHeaders | None = None) -> None:
        if self.fail_after is not None and len(self.published) >= self.fail_after:
            raise ConnectionError("broker unavailable")
        await asyncio.sleep(0)
        self.published.append(envelope)
        self.received.set()


async def outbox(container: Container) -> list[dict[str, Any]]:
    async with container.engine.connect() as connection:
        rows = await connection.execute(select(OutboxModel.envelope).order_by(OutboxModel.id))
        return [row.envelope for row in rows]


async def unpublished(container: Container) -> int:
    async with container.engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(OutboxModel).where(OutboxModel.published_at.is_(None))
        )
    return int(count or 0)


async def attempts(container: Container) -> list[int]:
    async with container.engine.connect() as connection:
        return list((await connection.scalars(select(OutboxModel.attempts).order_by(OutboxModel.id))).all())


async def test_each_change_writes_its_event_with_it(container: Container) -> None:
    await container.users.create_admin("root@example.com", PASSWORD)  # so that Ada, once admin, may leave
    earlier = len(await outbox(container))
    user = await container.users.sign_up("ada@example.com", PASSWORD, {})
    pair = await container.auth.issue_tokens("ada@example.com", PASSWORD, ClientInfo())
    principal = await container.auth_queries.authenticate(pair.access_token)
    await container.users.update_profile(principal, {"first_name": "Ada", "last_name": None})
    await container.users.change_password(principal, PASSWORD, "another password")
    await container.administration.update(user.id, AdminUserPatch(role=Role.ADMIN))
    await container.users.deactivate(principal)

    events = (await outbox(container))[earlier:]

    assert [e["type"] for e in events] == [
        "user.registered",
        "user.profile_updated",
        "user.password_changed",
        "user.role_changed",
        "user.deactivated",
    ]
    assert events[0]["data"] == {"user_id": str(user.id), "email": "ada@example.com"}
    assert events[1]["data"]["changed"] == ["first_name"]
    assert events[3]["data"]["role"] == "admin"
    assert events[4]["data"]["reason"] == "self"
    assert all(set(e) == {"id", "type", "occurred_at", "version", "data"} and e["version"] == 1 for e in events)
    assert len({e["id"] for e in events}) == len(events)


async def test_each_row_names_its_event_type_and_aggregate(container: Container) -> None:
    """The row's columns come from the event (``type``, ``aggregate_id``), whatever the aggregate."""
    user = await container.users.sign_up("ada@example.com", PASSWORD, {})
    async with container.engine.connect() as connection:
        row = (await connection.execute(select(OutboxModel.type, OutboxModel.aggregate_id, OutboxModel.envelope))).one()

    assert (row.type, row.aggregate_id) == (UserRegistered.type, user.id)
    assert row.envelope["type"] == row.type


async def test_a_failed_change_leaves_no_event(container: Container) -> None:
    await container.users.sign_up("ada@example.com", PASSWORD, {})
    with pytest.raises(Exception, match="already registered"):
        await container.users.sign_up("ADA@example.com", PASSWORD, {})

    assert [e["type"] for e in await outbox(container)] == ["user.registered"]


async def test_a_rehash_at_sign_in_is_not_a_password_change(container: Container) -> None:
    await container.users.sign_up("ada@example.com", PASSWORD, {})
    await container.auth.issue_tokens("ada@example.com", PASSWORD, ClientInfo())
    assert [e["type"] for e in await outbox(container)] == ["user.registered"]


async def test_the_relay_publishes_in_order_and_marks_rows(either: Container) -> None:
    for i in range(7):
        await either.users.sign_up(f"user{i}@example.com", PASSWORD, {})
    publisher = RecordingPublisher()
    relay = OutboxRelay(either.engine, publisher, batch_size=3)

    while await relay.publish_pending():
        pass

    assert [e["data"]["email"] for e in publisher.published] == [f"user{i}@example.com" for i in range(7)]
    assert await unpublished(either) == 0


async def test_a_broker_failure_keeps_what_was_confirmed(either: Container) -> None:
    for i in range(5):
        await either.users.sign_up(f"user{i}@example.com", PASSWORD, {})
    flaky = RecordingPublisher(fail_after=2)
    relay = OutboxRelay(either.engine, flaky)

    with pytest.raises(ConnectionError):
        await relay.publish_pending()
    assert await unpublished(either) == 3
    assert await attempts(either) == [0, 0, 1, 0, 0]  # Counted on the event that failed.

    flaky.fail_after = None
    assert await relay.publish_pending() == 3
    assert [e["data"]["email"] for e in flaky.published] == [f"user{i}@example.com" for i in range(5)]


class FlakySubscriber:
    """The jobs' destination: records each event it is handed, or fails like a job queue that is down."""

    def __init__(self) -> None:
        self.handled: list[UserRegistered] = []
        self.down = False

    async def __call__(self, event: UserRegistered) -> None:
        if self.down:
            raise ConnectionError("job queue unavailable")
        self.handled.append(event)


@pytest.mark.parametrize("failing", ["broker", "jobs"])
@pytest.mark.parametrize("outage_tries", [2, 5])
async def test_a_destination_that_fails_neither_holds_up_nor_repeats_the_other(
    either: Container, failing: str, outage_tries: int
) -> None:
    """While one destination fails, the other takes every event, once, in order; the failing one gets all later."""
    emails = [f"user{i}@example.com" for i in range(4)]
    for email in emails[:2]:
        await either.users.sign_up(email, PASSWORD, {})
    broker = RecordingPublisher(fail_after=0 if failing == "broker" else None)
    jobs = FlakySubscriber()
    jobs.down = failing == "jobs"
    subscribers = CommittedEvents()
    subscribers.subscribe(UserRegistered, jobs)
    relay = OutboxRelay(either.engine, broker, subscribers)

    for try_ in range(outage_tries):
        if try_ == 1:  # More events committed during the outage.
            for email in emails[2:]:
                await either.users.sign_up(email, PASSWORD, {})
        with pytest.raises(ConnectionError):
            await relay.publish_pending()
    broker.fail_after, jobs.down = None, False
    while await relay.publish_pending():
        pass

    assert [e["data"]["email"] for e in broker.published] == emails  # each once, in order
    assert [e.email for e in jobs.handled] == emails
    assert await unpublished(either) == 0


async def test_relays_running_together_publish_each_event_once(container: Container) -> None:
    for i in range(40):
        await container.users.sign_up(f"user{i}@example.com", PASSWORD, {})
    publisher = RecordingPublisher()
    relays = [OutboxRelay(container.engine, publisher, batch_size=5) for _ in range(3)]

    async def drain(relay: OutboxRelay) -> None:
        for _ in range(60):
            await relay.publish_pending()
            await asyncio.sleep(0)

    await asyncio.gather(*(drain(relay) for relay in relays))

    ids = [e["id"] for e in publisher.published]
    assert len(ids) == len(set(ids)) == 40
    assert [e["data"]["email"] for e in publisher.published] == [f"user{i}@example.com" for i in range(40)]


async def test_the_running_relay_is_woken_by_a_commit(container: Container) -> None:
    publisher = RecordingPublisher()
    relay = OutboxRelay(container.engine, publisher, poll_seconds=30)
    running = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.2)
        await container.users.sign_up("ada@example.com", PASSWORD, {})
        # Woken by the commit's NOTIFY: the 30 s poll would be far too late.
        await asyncio.wait_for(publisher.received.wait(), timeout=5)
    finally:
        running.cancel()
    assert publisher.published[0]["type"] == "user.registered"
