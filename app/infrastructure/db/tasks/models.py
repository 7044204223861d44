"""The tasks' tables. Both are tenant-scoped (``organization_id``): on PostgreSQL, row-level
security admits only the rows of the organization the transaction is scoped to (migration 0009).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast
from uuid import UUID

from advanced_alchemy.base import DefaultBase, UUIDv7Base
from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Table, Text, column
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.domain.tasks.values import OPEN_STATUSES, TITLE_MAX_LENGTH, TaskPriority, TaskStatus

_STATUSES = ", ".join(f"'{status.value}'" for status in TaskStatus)
_PRIORITIES = ", ".join(f"'{priority.value}'" for priority in TaskPriority)
#: Strings as PostgreSQL's ``text[]`` (``@>`` served by a GIN index); a JSON array on SQLite.
StringArray = ARRAY(Text).with_variant(JSON(), "sqlite")


class TaskModel(UUIDv7Base):
    __tablename__ = "tasks"
    __table_args__ = (
        # Every listing is one organization's, newest first unless ordered otherwise; ties by id.
        Index("ix_tasks_organization_id_created_at", "organization_id", "created_at", "id"),
        Index("ix_tasks_organization_id_updated_at", "organization_id", "updated_at", "id"),
        Index("ix_tasks_organization_id_due_at", "organization_id", "due_at", "id"),
        # status=… and assignee_id=… (one's own tasks; unassigning a removed member) in the default order.
        Index("ix_tasks_organization_id_status", "organization_id", "status", "created_at", "id"),
        Index("ix_tasks_organization_id_assignee_id", "organization_id", "assignee_id", "created_at", "id"),
        # tags__contains: PostgreSQL only (SQLite has no GIN; it scans, as embedded mode may).
        Index("ix_tasks_tags", "tags", postgresql_using="gin").ddl_if(dialect="postgresql"),
        # The due-date reminders' scan of one organization: only the tasks it can concern.
        Index(
            "ix_tasks_organization_id_remindable_due_at",
            "organization_id",
            "due_at",
            postgresql_where=column("deleted_at").is_(None)
            & column("assignee_id").is_not(None)
            & column("status").in_(sorted(status.value for status in OPEN_STATUSES)),
        ).ddl_if(dialect="postgresql"),
        CheckConstraint(f"status IN ({_STATUSES})", name="status_known"),
        CheckConstraint(f"priority IN ({_PRIORITIES})", name="priority_known"),
    )

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    assignee_id: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    due_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    tags: Mapped[list[str]] = mapped_column(StringArray)
    meta: Mapped[dict[str, Any]] = mapped_column(JsonB)
    created_by: Mapped[UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class TaskNoticeModel(DefaultBase):
    """The task emails sent: one row per ``(task, kind, moment)`` — an assignment, a due date — claimed once."""

    __tablename__ = "task_notices"

    task_id: Mapped[UUID] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    moment: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), primary_key=True)
    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    sent_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


#: The tasks table, for the Core statements of the repositories and the reactions.
TASKS = cast("Table", TaskModel.__table__)
