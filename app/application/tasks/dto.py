"""Request and response bodies of the task use cases.

Bounds live on the wire types, from the domain's constants, so every transport refuses
oversized input before a use case runs; what a type cannot say (distinct tags, ``meta``'s
size as JSON) is checked when the body becomes domain values, naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

from app.application.users.dto import TEXT_PATTERN, Input, MetaField, check_meta
from app.application.validation import in_utc
from app.domain.tasks.model import Task
from app.domain.tasks.values import (
    DESCRIPTION_MAX_LENGTH,
    TAG_MAX_LENGTH,
    TAGS_MAX_COUNT,
    TITLE_MAX_LENGTH,
    TaskPriority,
    TaskStatus,
    check_tags,
)

TitleField = Annotated[str, msgspec.Meta(min_length=1, max_length=TITLE_MAX_LENGTH, pattern=TEXT_PATTERN)]
DescriptionField = Annotated[str, msgspec.Meta(max_length=DESCRIPTION_MAX_LENGTH, pattern=TEXT_PATTERN)]
#: RFC 3339: an offset is required, so that a moment never depends on the server's zone.
DueAtField = Annotated[datetime, msgspec.Meta(tz=True, examples=["2026-12-31T17:00:00Z"])]
TagsField = Annotated[
    list[Annotated[str, msgspec.Meta(min_length=1, max_length=TAG_MAX_LENGTH, pattern=TEXT_PATTERN)]],
    msgspec.Meta(max_length=TAGS_MAX_COUNT, description=f"At most {TAGS_MAX_COUNT} distinct tags"),
]


class TaskCreate(Input):
    title: TitleField
    description: DescriptionField | None = None
    status: TaskStatus = TaskStatus.TODO
    priority: TaskPriority = TaskPriority.NORMAL
    assignee_id: UUID | None = None
    due_at: DueAtField | None = None
    tags: TagsField = msgspec.field(default_factory=list)
    meta: MetaField = msgspec.field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        """The task's fields as domain values."""
        return _domain_values(msgspec.structs.asdict(self))


class TaskPatch(Input):
    """Only the fields present change; ``null`` clears a field that may be empty. Absent and null differ."""

    title: TitleField | msgspec.UnsetType = msgspec.UNSET
    description: DescriptionField | msgspec.UnsetType | None = msgspec.UNSET
    status: TaskStatus | msgspec.UnsetType = msgspec.UNSET
    priority: TaskPriority | msgspec.UnsetType = msgspec.UNSET
    assignee_id: UUID | msgspec.UnsetType | None = msgspec.UNSET
    due_at: DueAtField | msgspec.UnsetType | None = msgspec.UNSET
    tags: TagsField | msgspec.UnsetType = msgspec.UNSET
    meta: MetaField | msgspec.UnsetType = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        """The present fields as domain values."""
        present = {name: value for name, value in msgspec.structs.asdict(self).items() if value is not msgspec.UNSET}
        return _domain_values(present)


def _domain_values(fields: dict[str, Any]) -> dict[str, Any]:
    if "tags" in fields:
        fields["tags"] = check_tags(fields["tags"])
    if "meta" in fields:
        check_meta(fields["meta"])
    if isinstance(due_at := fields.get("due_at"), datetime):
        fields["due_at"] = in_utc(due_at, field="due_at")
    return fields


class TaskRead(msgspec.Struct, kw_only=True):
    id: UUID
    organization_id: UUID
    title: str
    description: str | None
    status: TaskStatus
    priority: TaskPriority
    assignee_id: UUID | None
    due_at: datetime | None
    tags: list[str]
    meta: dict[str, Any]
    created_by: UUID
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    @classmethod
    def from_entity(cls, task: Task) -> TaskRead:
        return msgspec.convert(task, cls, from_attributes=True)
