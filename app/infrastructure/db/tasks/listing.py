"""The tasks listing: the generic engine over one organization's rows of the tasks table."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Select, bindparam
from sqlalchemy.ext.asyncio import AsyncEngine

from app.application.listing import CursorCodec, ListQuery, Page
from app.application.tasks.listing import TASK_LISTING
from app.domain.tasks.model import Task
from app.infrastructure.db.listing import SqlListing
from app.infrastructure.db.mapping import from_rows
from app.infrastructure.db.tasks.models import TASKS, TaskModel
from app.infrastructure.db.tasks.repositories import TASK_ROW

_ORGANIZATION = "organization_id"
#: An organization's live tasks, the organization bound per page.
_LIVE_TASKS = TASK_ROW.where(TASKS.c.organization_id == bindparam(_ORGANIZATION), TASKS.c.deleted_at.is_(None))


class SqlTaskListing:
    def __init__(self, engine: AsyncEngine, cursors: CursorCodec) -> None:
        self.rows = SqlListing(TASK_LISTING, TaskModel, engine, cursors)

    async def page(self, organization_id: UUID, query: ListQuery) -> Page[Task]:
        """The organization's live tasks: filtered here, and scoped for row-level security as well."""
        page = await self.rows.page(
            _LIVE_TASKS, query, parameters={_ORGANIZATION: organization_id}, organization_id=organization_id
        )
        return Page(
            items=from_rows(page.items, Task),
            total=page.total,
            limit=page.limit,
            offset=page.offset,
            next_cursor=page.next_cursor,
        )

    def statement(self, organization_id: UUID, query: ListQuery) -> Select[Any]:
        """The SQL of :meth:`page`'s page, for the benchmark to run and explain as the listing does."""
        return self.rows.statement(_LIVE_TASKS, query, {_ORGANIZATION: organization_id})
