"""The tasks' repositories: every statement is the organization's, by the application's filter.

Row-level security holds on PostgreSQL even where a statement would lack the filter; on
SQLite the filter is the only guard, so no statement here goes without it. Statements are
Core, on the table's columns: a task is read as a row and written as its column values.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.application.tasks.ports import NoticeKind
from app.domain.tasks.model import Task
from app.domain.tasks.values import OPEN_STATUSES
from app.infrastructure.db.claims import dialect_insert
from app.infrastructure.db.mapping import from_rows, row_columns, stored_fields, to_row
from app.infrastructure.db.organizations.models import OrganizationModel
from app.infrastructure.db.repositories import PendingChanges
from app.infrastructure.db.tasks.models import TASKS, TaskModel, TaskNoticeModel
from app.infrastructure.db.tenancy import TenantScope, TenantScopedRepository

TASK_COLUMNS = stored_fields(Task, TaskModel)
#: The columns a task is read from, as Core columns: rows, not ORM entities, come back.
TASK_ROW = select(*row_columns(TaskModel, TASK_COLUMNS))
_OPEN = sorted(status.value for status in OPEN_STATUSES)


class SqlTaskRepository(TenantScopedRepository):
    def __init__(self, session: AsyncSession, tenant: TenantScope, changes: PendingChanges) -> None:
        super().__init__(session, tenant)
        self._changes = changes

    async def get(self, task_id: UUID, *, for_update: bool = False) -> Task | None:
        statement = TASK_ROW.where(
            TASKS.c.organization_id == self.organization_id, TASKS.c.id == task_id, TASKS.c.deleted_at.is_(None)
        )
        # SQLite has no row locks (and needs none: it runs one writer at a time); it omits FOR UPDATE.
        rows = (await self._db.execute(statement.with_for_update() if for_update else statement)).all()
        return from_rows(rows, Task)[0] if rows else None

    async def add(self, task: Task) -> None:
        self._own(task)
        await self._db.execute(TASKS.insert().values(to_row(task, TASK_COLUMNS)))
        self._changes.collect([task])

    async def save(self, task: Task) -> None:
        self._own(task)
        statement = (
            update(TASKS)
            .where(TASKS.c.organization_id == self.organization_id, TASKS.c.id == task.id)
            .values(to_row(task, TASK_COLUMNS))
        )
        await self._db.execute(statement)
        self._changes.collect([task])

    async def due_for_reminder(
        self, due_from: datetime, due_before: datetime, *, after: tuple[datetime, UUID] | None = None, limit: int
    ) -> list[Task]:
        reminded = select(TaskNoticeModel.task_id).where(
            TaskNoticeModel.task_id == TASKS.c.id,
            TaskNoticeModel.kind == NoticeKind.DUE.value,
            TaskNoticeModel.moment == TASKS.c.due_at,
        )
        # A range of ix_tasks_organization_id_remindable_due_at, each row checked against the claims' key.
        statement = (
            TASK_ROW.where(
                TASKS.c.organization_id == self.organization_id,
                TASKS.c.deleted_at.is_(None),
                TASKS.c.assignee_id.is_not(None),
                TASKS.c.status.in_(_OPEN),
                TASKS.c.due_at >= due_from,
                TASKS.c.due_at < due_before,
                ~reminded.exists(),
            )
            .order_by(TASKS.c.due_at, TASKS.c.id)
            .limit(limit)
        )
        if after is not None:
            due_at, task_id = after
            statement = statement.where(
                or_(TASKS.c.due_at > due_at, and_(TASKS.c.due_at == due_at, TASKS.c.id > task_id))
            )
        return from_rows((await self._db.execute(statement)).all(), Task)

    def _own(self, task: Task) -> None:
        """A task of another organization is a bug of the caller, refused before any SQL."""
        if task.organization_id != self.organization_id:
            raise RuntimeError("A task was written through a unit of work scoped to another organization")


class SqlTaskNotices(TenantScopedRepository):
    async def claim(self, task_id: UUID, kind: NoticeKind, moment: datetime, now: datetime) -> bool:
        # INSERT ... ON CONFLICT DO NOTHING: a second claim of the same notice waits on the first
        # one's uncommitted row, then inserts nothing (it committed) or takes its place (it rolled back).
        statement = (
            dialect_insert(self._db)(TaskNoticeModel)
            .values(task_id=task_id, kind=kind.value, moment=moment, organization_id=self.organization_id, sent_at=now)
            .on_conflict_do_nothing(
                index_elements=[TaskNoticeModel.task_id, TaskNoticeModel.kind, TaskNoticeModel.moment]
            )
            .returning(TaskNoticeModel.task_id)
        )
        return (await self._db.execute(statement)).scalar_one_or_none() is not None

    async def organization_name(self, organization_id: UUID) -> str | None:
        statement = select(OrganizationModel.name).where(
            OrganizationModel.id == organization_id, OrganizationModel.deleted_at.is_(None)
        )
        name: str | None = await self._db.scalar(statement)
        return name

    async def organization_ids(self, *, after: UUID | None, limit: int) -> Sequence[UUID]:
        # Organizations are the registry of tenants, not tenant data: no row-level security to scope.
        statement = select(OrganizationModel.id).where(OrganizationModel.deleted_at.is_(None))
        if after is not None:
            statement = statement.where(OrganizationModel.id > after)
        return list((await self._db.scalars(statement.order_by(OrganizationModel.id).limit(limit))).all())
