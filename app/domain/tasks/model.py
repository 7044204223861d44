"""The task aggregate: a work item of one organization, and who may change it.

Its own methods are the only way it changes, so each change records its events and keeps
``completed_at`` true to ``status``: set whenever the task is done (on creation too),
cleared when it leaves done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from app.domain.events import Aggregate
from app.domain.organizations.membership import Membership
from app.domain.organizations.values import OrgRole
from app.domain.tasks.events import TaskAssigned, TaskCompleted, TaskCreated, TaskDeleted, TaskUpdated
from app.domain.tasks.values import TaskPriority, TaskStatus

#: What a task's creator, assignee or an admin may change: every field of its creation.
EDITABLE_FIELDS = frozenset({"title", "description", "status", "priority", "assignee_id", "due_at", "tags", "meta"})


@dataclass(slots=True, kw_only=True)
class Task(Aggregate):
    id: UUID
    organization_id: UUID
    title: str
    description: str | None = None
    status: TaskStatus = TaskStatus.TODO
    priority: TaskPriority = TaskPriority.NORMAL
    assignee_id: UUID | None = None
    due_at: datetime | None = None
    tags: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    created_by: UUID
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    deleted_at: datetime | None = None

    @classmethod
    def create(
        cls,
        *,
        id: UUID,  # noqa: A002 - mirrors the attribute name
        organization_id: UUID,
        created_by: UUID,
        now: datetime,
        fields: dict[str, Any],
    ) -> Task:
        """A new task of ``fields`` (checked values, any of ``EDITABLE_FIELDS`` but the title optional)."""
        _only_editable(fields)
        task = cls(
            id=id, organization_id=organization_id, created_by=created_by, created_at=now, updated_at=now, **fields
        )
        task.record(TaskCreated(task_id=id, organization_id=organization_id, occurred_at=now, created_by=created_by))
        if task.assignee_id is not None:
            task._assigned(task.assignee_id, now)
        if task.status is TaskStatus.DONE:
            task._completed(created_by, now)
        return task

    def may_edit(self, membership: Membership) -> bool:
        """Its creator, its assignee, or an admin (or owner) of its organization."""
        return membership.user_id in (self.created_by, self.assignee_id) or membership.role.at_least(OrgRole.ADMIN)

    def may_delete(self, membership: Membership) -> bool:
        """Its creator, or an admin (or owner) of its organization; being assigned it is not enough."""
        return membership.user_id == self.created_by or membership.role.at_least(OrgRole.ADMIN)

    def update(self, changes: dict[str, Any], by: UUID, now: datetime) -> list[str]:
        """Apply checked changes; returns the names of the fields that really changed."""
        _only_editable(changes)
        changed = [name for name, value in changes.items() if getattr(self, name) != value]
        if not changed:
            return changed
        was_done = self.status is TaskStatus.DONE
        for name in changed:
            setattr(self, name, changes[name])
        self.updated_at = now
        self.record(
            TaskUpdated(task_id=self.id, organization_id=self.organization_id, occurred_at=now, changed=tuple(changed))
        )
        if "assignee_id" in changed and self.assignee_id is not None:
            self._assigned(self.assignee_id, now)
        if self.status is TaskStatus.DONE and not was_done:
            self._completed(by, now)
        elif was_done and self.status is not TaskStatus.DONE:
            self.completed_at = None
        return changed

    def delete(self, now: datetime) -> None:
        """Soft delete: gone from every read from now on; the row stays for audit."""
        self.deleted_at = now
        self.updated_at = now
        self.record(TaskDeleted(task_id=self.id, organization_id=self.organization_id, occurred_at=now))

    def _assigned(self, assignee_id: UUID, now: datetime) -> None:
        self.record(
            TaskAssigned(
                task_id=self.id, organization_id=self.organization_id, occurred_at=now, assignee_id=assignee_id
            )
        )

    def _completed(self, by: UUID, now: datetime) -> None:
        self.completed_at = now
        self.record(
            TaskCompleted(task_id=self.id, organization_id=self.organization_id, occurred_at=now, completed_by=by)
        )


def _only_editable(fields: dict[str, Any]) -> None:
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"Not task fields: {sorted(unknown)}")
