"""``task.create``: another service asks for a task, as if one of the organization's members created it.

Applied once per envelope id (an inbox claim in the task's own transaction). It goes through
the very membership check of the REST route, so an unknown (or deleted) organization, or a
``created_by`` who is not a member of it, can never succeed: the message is poison,
dead-lettered at once, and nothing of it stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

import msgspec

from app.application.inbound import InboundMessage, PoisonMessage
from app.application.ports import Clock
from app.application.tasks.dto import DescriptionField, DueAtField, TagsField, TaskCreate, TitleField
from app.application.tasks.ports import TaskUnitOfWorkFactory
from app.application.tasks.use_cases import TaskUseCases
from app.domain.errors import NotFound, ValidationFailed
from app.domain.tasks.values import TaskPriority


class CreateTask(InboundMessage, kw_only=True):
    type: ClassVar[str] = "task.create"
    organization_id: UUID
    created_by: UUID
    title: TitleField
    description: DescriptionField | None = None
    priority: TaskPriority = TaskPriority.NORMAL
    due_at: DueAtField | None = None
    tags: TagsField = msgspec.field(default_factory=list)

    def body(self) -> TaskCreate:
        """The task as its REST body would give it."""
        return TaskCreate(
            title=self.title, description=self.description, priority=self.priority, due_at=self.due_at, tags=self.tags
        )


@dataclass(kw_only=True, eq=False)
class TaskInbound:
    """Applies ``task.create`` (registered with ``InboundMessages`` by the composition root)."""

    uow: TaskUnitOfWorkFactory
    tasks: TaskUseCases
    clock: Clock
    message: type[CreateTask] = CreateTask

    async def apply(self, message_id: UUID, payload: CreateTask) -> bool:
        async with self.uow() as uow:
            if not await uow.inbox.claim(message_id, CreateTask.type, self.clock()):
                return False
            try:
                await self.tasks.add(uow, payload.created_by, payload.organization_id, payload.body())
            except NotFound:
                raise PoisonMessage(
                    f"unknown organization {payload.organization_id}, or {payload.created_by} is not a member"
                ) from None
            except ValidationFailed as invalid:
                reasons = "; ".join(f"{error.field}: {error.message}" for error in invalid.errors)
                raise PoisonMessage(f"invalid data: {reasons}") from None
            await uow.commit()
        return True
