"""The tasks listing: the generic engine over one organization's rows of the tasks table."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.application.listing import CursorCodec, ListQuery, Page
from app.application.tasks.listing import TASK_LISTING
from app.domain.tasks.model import Task
from app.infrastructure.db.listing import SqlListing
from app.infrastructure.db.mapping import from_rows
from app.infrastructure.db.tasks.models import TASKS, TaskModel
from app.infrastructure.db.tasks.repositories import TASK_ROW


class SqlTaskListing:
    def __init__(self, engine: AsyncEngine, cursors: CursorCodec) -> None:
        self.rows = SqlListing(TASK_LISTING, TaskModel, engine, cursors)

    async def page(self, organization_id: UUID, query: ListQuery) -> Page[Task]:
        """The organization's live tasks: filtered here, and scoped for row-level security as well."""
        page = await self.rows.page(_live_tasks(organization_id), query, organization_id=organization_id)
        return Page(
            items=from_rows(page.items, Task),
            total=page.total,
            limit=page.limit,
            offset=page.offset,
            next_cursor=page.next_cursor,
        )

    def statement(self, organization_id: UUID, query: ListQuery) -> Select[Any]:
        """The SQL of :meth:`page`'s page, for the benchmark to run and explain as the listing does."""
        return self.rows.statement(_live_tasks(organization_id), query)


def _live_tasks(organization_id: UUID) -> Select[Any]:
    return TASK_ROW.where(TASKS.c.organization_id == organization_id, TASKS.c.deleted_at.is_(None))
