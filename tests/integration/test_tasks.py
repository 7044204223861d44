"""An organization's tasks through their use cases, on PostgreSQL and on a migrated SQLite file.

Both databases run every test here and must agree: SQLite has no row-level security, so
what these tests prove there (another organization's task is not found, a listing holds
the organization's tasks only) is the application's own filter at work. Row-level
security itself is proven in ``test_task_isolation``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
import pytest
from sqlalchemy import select

from app.application.organizations.access import OrganizationNotFound
from app.application.tasks.dto import TaskCreate, TaskPatch, TaskRead
from app.application.tasks.use_cases import TaskNotFound
from app.bootstrap import Container
from app.domain.errors import ValidationFailed
from app.domain.events import Aggregate
from app.domain.organizations.events import MemberRemoved
from app.domain.organizations.values import OrgRole
from app.infrastructure.db.tasks.models import TaskModel
from app.infrastructure.db.tasks.uow import SqlTaskUnitOfWork
from app.infrastructure.outbox.model import OutboxModel
from tests.conftest import embedded_container
from tests.support.factories import PASSWORD, unique_email
from tests.support.tenancy import create_organization, delete_organization

DUE = datetime(2027, 1, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
async def sqlite_container(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Container]:
    """The service wired to a SQLite file migrated like a deployment's (embedded mode)."""
    async with embedded_container(tmp_path_factory.mktemp("tasks") / "tasks.db") as container:
        yield container


@pytest.fixture(params=["postgresql", "sqlite"])
def service(request: pytest.FixtureRequest, container: Container, sqlite_container: Container) -> Container:
    return container if request.param == "postgresql" else sqlite_container


@dataclass(frozen=True)
class Org:
    """Two organizations and who is what in them; ``both`` belongs to the two."""

    service: Container
    id: UUID
    other_id: UUID
    users: Mapping[str, UUID]

    def __getitem__(self, name: str) -> UUID:
        return self.users[name]

    async def create(self, by: str = "creator", **fields: Any) -> TaskRead:
        body = msgspec.convert({"title": "Write the report", **fields}, TaskCreate)
        return await self.service.tasks.create(self[by], self.id, body)

    async def update(self, task_id: UUID, by: str = "creator", **fields: Any) -> TaskRead:
        return await self.service.tasks.update(self[by], self.id, task_id, msgspec.convert(fields, TaskPatch))

    async def listing(self, by: str = "member", **params: str | Sequence[str]) -> list[TaskRead]:
        page = await self.service.tasks.list(self[by], self.id, params)
        return page.items


async def _user(service: Container) -> UUID:
    return (await service.users.sign_up(unique_email(), PASSWORD, {})).id


@pytest.fixture
async def org(service: Container) -> Org:
    roles = {"creator": OrgRole.MEMBER, "assignee": OrgRole.MEMBER, "member": OrgRole.MEMBER,
             "admin": OrgRole.ADMIN, "owner": OrgRole.OWNER, "both": OrgRole.MEMBER}  # fmt: skip
    users = {name: await _user(service) for name in [*roles, "outsider"]}
    organization_id = await create_organization(service.engine, {users[name]: role for name, role in roles.items()})
    other_id = await create_organization(
        service.engine, {users["outsider"]: OrgRole.OWNER, users["both"]: OrgRole.MEMBER}, name="Other"
    )
    return Org(service, organization_id, other_id, users)


async def test_a_created_task_has_the_contracts_defaults_and_its_creator(org: Org) -> None:
    task = await org.create()

    assert (task.title, task.description, task.status, task.priority) == ("Write the report", None, "todo", "normal")
    assert (task.assignee_id, task.due_at, task.tags, task.meta, task.completed_at) == (None, None, [], {}, None)
    assert (task.organization_id, task.created_by) == (org.id, org["creator"])
    assert await org.service.tasks.get(org["member"], org.id, task.id) == task


async def test_every_field_is_kept_as_given(org: Org) -> None:
    task = await org.create(
        description="Quarterly", priority="urgent", assignee_id=str(org["assignee"]),
        due_at="2027-01-01T13:00:00+01:00", tags=["finance", "q1"], meta={"source": "crm", "n": 3},
    )  # fmt: skip

    read = await org.service.tasks.get(org["member"], org.id, task.id)
    assert (read.description, read.priority, read.assignee_id) == ("Quarterly", "urgent", org["assignee"])
    assert read.due_at == DUE
    assert (read.tags, read.meta) == (["finance", "q1"], {"source": "crm", "n": 3})


async def test_completed_at_follows_the_status(org: Org) -> None:
    done_at_birth = await org.create(status="done")
    assert done_at_birth.completed_at == done_at_birth.created_at

    task = await org.create()
    done = await org.update(task.id, status="done")
    assert done.completed_at is not None
    assert (await org.update(task.id, title="Renamed")).completed_at == done.completed_at
    reopened = await org.update(task.id, status="in_progress")
    assert reopened.completed_at is None


@pytest.mark.parametrize("change", ["create", "update"])
async def test_an_assignee_must_be_a_member(org: Org, change: str) -> None:
    task = await org.create()
    outsider = str(org["outsider"])
    attempt = org.create(assignee_id=outsider) if change == "create" else org.update(task.id, assignee_id=outsider)
    with pytest.raises(ValidationFailed) as refused:
        await attempt
    assert [error.field for error in refused.value.errors] == ["assignee_id"]


async def test_a_task_of_another_organization_is_not_found_even_to_a_member_of_both(org: Org) -> None:
    """The path's organization is the one whose tasks are searched: ``both`` may see each task, in its own."""
    theirs = await org.service.tasks.create(org["both"], org.other_id, TaskCreate(title="Theirs"))
    tasks = org.service.tasks
    attempts = [
        tasks.get(org["both"], org.id, theirs.id),
        tasks.update(org["both"], org.id, theirs.id, TaskPatch(title="Mine now")),
        tasks.delete(org["both"], org.id, theirs.id),
    ]
    for attempt in attempts:
        with pytest.raises(TaskNotFound):
            await attempt
    assert (await tasks.get(org["both"], org.other_id, theirs.id)).title == "Theirs"
    assert theirs.id not in {task.id for task in await org.listing(by="both")}


async def test_a_deleted_task_is_gone_but_its_row_stays(org: Org) -> None:
    task = await org.create()
    await org.service.tasks.delete(org["creator"], org.id, task.id)

    with pytest.raises(TaskNotFound):
        await org.service.tasks.get(org["creator"], org.id, task.id)
    assert await org.listing() == []
    async with org.service.engine.connect() as connection:
        deleted_at = (await connection.execute(select(TaskModel.deleted_at).where(TaskModel.id == task.id))).scalar()
    assert deleted_at is not None


async def test_a_deleted_organizations_tasks_are_gone_with_it(org: Org) -> None:
    task = await org.create()
    await delete_organization(org.service.engine, org.id)

    with pytest.raises(OrganizationNotFound):
        await org.service.tasks.get(org["owner"], org.id, task.id)
    with pytest.raises(OrganizationNotFound):
        await org.listing(by="owner")


async def test_a_removed_member_is_nobodys_assignee_any_more(org: Org) -> None:
    """The reaction to ``MemberRemoved`` runs in the removal's own transaction, scoped to the organization."""
    mine = await org.create(assignee_id=str(org["assignee"]))
    someone_elses = await org.create(assignee_id=str(org["member"]))
    theirs = await org.service.tasks.create(
        org["both"], org.other_id, TaskCreate(title="Theirs", assignee_id=org["both"])
    )
    mine_too = await org.create(assignee_id=str(org["both"]))
    deleted = await org.create(assignee_id=str(org["assignee"]))
    await org.service.tasks.delete(org["creator"], org.id, deleted.id)
    updates_before = await _task_updates(org.service)

    await _remove_member(org.service, org.id, org["both"])
    await _remove_member(org.service, org.id, org["assignee"])

    assert (await org.service.tasks.get(org["creator"], org.id, mine.id)).assignee_id is None
    assert (await org.service.tasks.get(org["creator"], org.id, mine_too.id)).assignee_id is None
    assert (await org.service.tasks.get(org["creator"], org.id, someone_elses.id)).assignee_id == org["member"]
    assert (await org.service.tasks.get(org["both"], org.other_id, theirs.id)).assignee_id == org["both"]
    # Each task unassigned is published as changed, like any change of assignee; the deleted one is left alone.
    published = (await _task_updates(org.service))[len(updates_before) :]
    assert published == [
        {"task_id": str(mine_too.id), "organization_id": str(org.id), "changed": ["assignee_id"]},
        {"task_id": str(mine.id), "organization_id": str(org.id), "changed": ["assignee_id"]},
    ]


async def _task_updates(service: Container) -> list[dict[str, Any]]:
    """The data of every ``task.updated`` in the outbox, in outbox order."""
    async with service.engine.connect() as connection:
        envelopes = await connection.scalars(
            select(OutboxModel.envelope).where(OutboxModel.type == "task.updated").order_by(OutboxModel.id)
        )
        return [envelope["data"] for envelope in envelopes]


class _Departure(Aggregate):
    """Stands in for the organization aggregate, which records ``MemberRemoved`` when a member goes."""


async def _remove_member(service: Container, organization_id: UUID, user_id: UUID) -> None:
    now = datetime.now(UTC)
    departure = _Departure()
    departure.record(MemberRemoved(organization_id=organization_id, user_id=user_id, occurred_at=now))
    async with service.tasks.uow() as uow:
        assert isinstance(uow, SqlTaskUnitOfWork)
        await uow.scope_to(organization_id)
        uow._changes.collect([departure])  # what saving the organization would do
        await uow.commit()


# --------------------------------------------------------------------------- listing


async def test_each_filter_selects_its_tasks(org: Org) -> None:
    plain = await org.create(title="Plain")
    rich = await org.create(
        by="member", title="Rich", status="in_progress", priority="high", assignee_id=str(org["assignee"]),
        due_at="2027-01-01T12:00:00Z", tags=["urgent", "ops"], meta={"team": "red"},
    )  # fmt: skip
    done = await org.create(title="Done", status="done")

    def ids(tasks: list[TaskRead]) -> list[UUID]:
        return [task.id for task in tasks]

    assert ids(await org.listing(id=str(rich.id))) == [rich.id]
    assert ids(await org.listing(title__istartswith="ri")) == [rich.id]
    assert ids(await org.listing(status="in_progress")) == [rich.id]
    assert ids(await org.listing(status__in="todo,done")) == [done.id, plain.id]
    assert ids(await org.listing(priority__ne="normal")) == [rich.id]
    assert ids(await org.listing(assignee_id=str(org["assignee"]))) == [rich.id]
    assert ids(await org.listing(assignee_id__isnull="true")) == [done.id, plain.id]
    assert ids(await org.listing(created_by=str(org["member"]))) == [rich.id]
    assert ids(await org.listing(due_at__lt="2027-01-02")) == [rich.id]
    assert ids(await org.listing(completed_at__isnull="false")) == [done.id]
    assert ids(await org.listing(created_at__gte=plain.created_at.isoformat())) == [done.id, rich.id, plain.id]
    assert ids(await org.listing(updated_at__lt=plain.created_at.isoformat())) == []
    assert ids(await org.listing(tags__contains="urgent")) == [rich.id]
    assert ids(await org.listing(tags__contains="urg")) == []  # an element, not a substring
    assert ids(await org.listing(**{"meta.team": "red"})) == [rich.id]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"tags": "urgent"}, "tags"), ({"tags__like": "u"}, "tags__like"), ({"order_by": "tags"}, "order_by"),
     ({"priority": "highest"}, "priority"), ({"status__contains": "todo"}, "status__contains"),
     ({"include_deleted": "true"}, "include_deleted")],
)  # fmt: skip
async def test_a_filter_that_does_not_apply_is_named(org: Org, params: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await org.listing(**params)
    assert [error.field for error in refused.value.errors] == [field]


async def test_priority_and_status_sort_by_rank_not_by_spelling(org: Org) -> None:
    for priority in ["normal", "urgent", "low", "high"]:
        await org.create(title=priority, priority=priority)

    assert [task.priority for task in await org.listing(order_by="priority")] == ["low", "normal", "high", "urgent"]
    assert [task.priority for task in await org.listing(order_by="-priority")] == ["urgent", "high", "normal", "low"]


async def test_cursors_walk_every_task_once_in_order(org: Org) -> None:
    priorities = ["low", "normal", "high", "urgent"]
    created = [
        await org.create(
            title=f"Task {n}", priority=priorities[n % 4], due_at=(DUE + timedelta(hours=n % 3)).isoformat()
        )
        for n in range(11)
    ]
    for order_by in ["-priority,due_at", "due_at", "-created_at"]:
        seen: list[UUID] = []
        cursor: str | None = None
        while True:
            params: dict[str, str] = {"order_by": order_by, "limit": "3"}
            if cursor:
                params["cursor"] = cursor
            page = await org.service.tasks.list(org["member"], org.id, params)
            seen.extend(task.id for task in page.items)
            assert page.total == len(created)
            cursor = page.next_cursor
            if cursor is None:
                break
        everything = await org.listing(order_by=order_by, limit="500")
        assert seen == [task.id for task in everything]
        assert sorted(seen) == sorted(task.id for task in created)
