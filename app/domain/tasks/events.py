"""What happened to a task, as other services hear of it (``type`` is the routing key).

Every event names the task's organization too: a subscriber filing events per tenant
needs no lookup. ``TASK_EVENTS`` is every one of them, for the catalog of what the
service publishes (the composition root registers it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from app.domain.events import DomainEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskEvent(DomainEvent):
    aggregate: ClassVar[str] = "task"
    task_id: UUID
    organization_id: UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCreated(TaskEvent):
    type: ClassVar[str] = "task.created"
    created_by: UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskUpdated(TaskEvent):
    type: ClassVar[str] = "task.updated"
    changed: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskAssigned(TaskEvent):
    """The task has a new assignee (on creation, or by a change): the assignee is told by email."""

    type: ClassVar[str] = "task.assigned"
    assignee_id: UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCompleted(TaskEvent):
    type: ClassVar[str] = "task.completed"
    completed_by: UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskDeleted(TaskEvent):
    type: ClassVar[str] = "task.deleted"


TASK_EVENTS: tuple[type[TaskEvent], ...] = (TaskCreated, TaskUpdated, TaskAssigned, TaskCompleted, TaskDeleted)
