"""The tasks listing: what a member may filter and sort an organization's tasks by, declared once."""

from __future__ import annotations

from app.application.listing import FieldKind, FieldSpec, Ordering, ResourceSpec
from app.domain.tasks.values import TaskPriority, TaskStatus

TASK_LISTING = ResourceSpec.of(
    FieldSpec("id", FieldKind.UUID),
    FieldSpec("title", FieldKind.STRING, sortable=True),
    FieldSpec("status", FieldKind.ENUM, sortable=True, choices=tuple(status.value for status in TaskStatus)),
    FieldSpec("priority", FieldKind.ENUM, sortable=True, choices=tuple(priority.value for priority in TaskPriority)),
    FieldSpec("assignee_id", FieldKind.UUID),
    FieldSpec("created_by", FieldKind.UUID),
    FieldSpec("due_at", FieldKind.DATETIME, sortable=True),
    FieldSpec("created_at", FieldKind.DATETIME, sortable=True),
    FieldSpec("updated_at", FieldKind.DATETIME, sortable=True),
    FieldSpec("completed_at", FieldKind.DATETIME, sortable=True),
    FieldSpec("tags", FieldKind.STRING_ARRAY),
    json_fields=frozenset({"meta"}),
    default_ordering=(Ordering("created_at", descending=True),),
    # A deleted task is gone for every member (404): no listing shows it.
    lists_deleted=False,
)
