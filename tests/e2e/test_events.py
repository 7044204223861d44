"""Events on a real RabbitMQ: published after commit (never after a rollback), nothing lost while
the broker is down. (The inbound direction is in ``test_consumer``.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import aio_pika
import pytest
from sqlalchemy import select

from app.application.organizations.dto import OrganizationCreateBody
from app.application.tasks.dto import TaskCreate, TaskPatch
from app.bootstrap import Container, build_container
from app.domain.organizations.values import OrgRole
from app.domain.tasks.values import TaskStatus
from app.infrastructure.config import Settings
from app.infrastructure.outbox.model import OutboxModel
from tests.conftest import make_settings
from tests.support.events import arriving, bound_queue, received
from tests.support.factories import AdminUserCreateFactory
from tests.support.servers import RabbitServer
from tests.support.tenancy import create_organization

PASSWORD = "correct horse battery"
pytestmark = pytest.mark.usefixtures("clean_database")


@contextlib.asynccontextmanager
async def relaying(settings: Settings, broker_url: str) -> AsyncIterator[Container]:
    """A container on the suite's database and this broker, with its relay running."""
    container = build_container(make_settings(settings.database_url, BROKER_URL=broker_url))
    relay = asyncio.create_task(container.relay.run())
    try:
        yield container
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        await container.close()


async def test_an_event_reaches_a_bound_queue_after_commit(settings: Settings, broker_url: str) -> None:
    async with bound_queue(broker_url) as queue, relaying(settings, broker_url) as container:
        user = await container.users.sign_up("ada@example.com", PASSWORD, {})
        (message,) = await received(queue, 1)

    envelope = json.loads(message.body)
    assert envelope["type"] == "user.registered"
    assert envelope["data"] == {"user_id": str(user.id), "email": "ada@example.com"}
    assert message.message_id == envelope["id"]
    assert message.routing_key == "user.registered"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


async def test_a_whole_batch_arrives_once_each_in_outbox_order(settings: Settings, broker_url: str) -> None:
    """The relay has a whole batch in flight before the first confirm: order must survive that."""
    container = build_container(make_settings(settings.database_url, BROKER_URL=broker_url))
    try:
        async with bound_queue(broker_url) as queue:
            items = AdminUserCreateFactory.batch(300)
            await container.administration.create_many(items)
            assert await container.relay.publish_pending() == 300
            messages = await received(queue, 300)
            async with container.engine.connect() as connection:
                in_outbox = (await connection.scalars(select(OutboxModel.id).order_by(OutboxModel.id))).all()
    finally:
        await container.close()

    assert [message.message_id for message in messages] == [str(event_id) for event_id in in_outbox]
    assert [json.loads(m.body)["data"]["email"] for m in messages] == [item.email for item in items]


async def test_a_rolled_back_change_publishes_nothing(settings: Settings, broker_url: str) -> None:
    async with bound_queue(broker_url) as queue, relaying(settings, broker_url) as container:
        await container.users.sign_up("ada@example.com", PASSWORD, {})
        with pytest.raises(Exception, match="already registered"):
            await container.users.sign_up("ADA@example.com", PASSWORD, {})
        await received(queue, 1)
        await asyncio.sleep(1.0)
        assert await queue.get(fail=False) is None


async def test_events_committed_while_the_broker_is_down_arrive_after(
    settings: Settings, stoppable_rabbitmq: RabbitServer
) -> None:
    async with bound_queue(stoppable_rabbitmq.url) as queue, relaying(settings, stoppable_rabbitmq.url) as container:
        await container.users.sign_up("first@example.com", PASSWORD, {})
        await received(queue, 1)
        stoppable_rabbitmq.stop()

        for i in range(5):
            await container.users.sign_up(f"user{i}@example.com", PASSWORD, {})  # writes still succeed

        stoppable_rabbitmq.start()
        # The first event may come again (at least once); the five written during the outage follow it.
        late = [m for m in await received(queue, 6, within=60) if b"first@" not in m.body]

    assert [json.loads(m.body)["data"]["email"] for m in late] == [f"user{i}@example.com" for i in range(5)]


async def test_organization_events_reach_a_bound_queue_in_the_order_of_the_changes(
    settings: Settings, broker_url: str
) -> None:
    async with bound_queue(broker_url, "organization.#") as queue, relaying(settings, broker_url) as container:
        ada = await container.users.sign_up("ada@example.com", PASSWORD, {})
        grace = await container.users.sign_up("grace@example.com", PASSWORD, {})
        created = await container.organizations.create(ada.id, OrganizationCreateBody(name="Acme"))
        await container.members.admit(created.id, grace.id, OrgRole.MEMBER)
        await container.members.change_role(ada.id, created.id, grace.id, OrgRole.ADMIN)
        await container.members.remove(grace.id, created.id, grace.id)
        messages = await received(queue, 5)

    org, ada_id, grace_id = str(created.id), str(ada.id), str(grace.id)
    assert [(m.routing_key, json.loads(m.body)["data"]) for m in messages] == [
        ("organization.created", {"organization_id": org, "created_by": ada_id}),
        ("organization.member_joined", {"organization_id": org, "user_id": ada_id, "role": "owner"}),
        ("organization.member_joined", {"organization_id": org, "user_id": grace_id, "role": "member"}),
        ("organization.member_role_changed", {"organization_id": org, "user_id": grace_id, "role": "admin"}),
        ("organization.member_removed", {"organization_id": org, "user_id": grace_id}),
    ]


async def test_each_change_to_a_task_is_published_with_its_organization(settings: Settings, broker_url: str) -> None:
    async with bound_queue(broker_url, "task.#") as queue, relaying(settings, broker_url) as container:
        lead = (await container.users.sign_up("lead@example.com", PASSWORD, {})).id
        ada = (await container.users.sign_up("ada@example.com", PASSWORD, {})).id
        org_id = await create_organization(container.engine, {lead: OrgRole.ADMIN, ada: OrgRole.MEMBER})
        task = await container.tasks.create(lead, org_id, TaskCreate(title="Publish", assignee_id=ada))
        await container.tasks.update(ada, org_id, task.id, TaskPatch(title="Publish it"))
        await container.tasks.update(ada, org_id, task.id, TaskPatch(status=TaskStatus.DONE))
        await container.tasks.update(ada, org_id, task.id, TaskPatch(title="Publish it"))  # no change: no event
        await container.tasks.delete(lead, org_id, task.id)
        messages = await received(queue, 6)
        later = await arriving(queue, 1.0)

    published = [(m.routing_key, json.loads(m.body)["data"]) for m in messages]
    ids = {"task_id": str(task.id), "organization_id": str(org_id)}
    assert published == [
        ("task.created", {**ids, "created_by": str(lead)}),
        ("task.assigned", {**ids, "assignee_id": str(ada)}),
        ("task.updated", {**ids, "changed": ["title"]}),
        ("task.updated", {**ids, "changed": ["status"]}),
        ("task.completed", {**ids, "completed_by": str(ada)}),
        ("task.deleted", ids),
    ]
    assert {m.message_id for m in later} <= {m.message_id for m in messages}  # redeliveries at most
