"""An organization's tasks: create, read, list, change and delete them, as its members may.

Every use case starts with ``enter_organization``: the caller's membership is read in the
use case's own transaction (not a member, no such organization or a deleted one → 404),
and the transaction is then confined to the organization, so a task of another one is
simply not found. Who may do what beyond membership is the task's to say
(``Task.may_edit``/``may_delete``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from app.application.listing import CursorCodec, Page, parse_list_query
from app.application.organizations.access import enter_organization
from app.application.ports import Clock, IdFactory
from app.application.tasks.dto import TaskCreate, TaskPatch, TaskRead
from app.application.tasks.listing import TASK_LISTING
from app.application.tasks.ports import TaskListing, TaskUnitOfWork, TaskUnitOfWorkFactory
from app.domain.errors import Forbidden, NotFound, ValidationFailed
from app.domain.tasks.model import Task


class TaskNotFound(NotFound):
    def __init__(self, task_id: UUID) -> None:
        super().__init__(f"Task {task_id} does not exist")


@dataclass(kw_only=True, eq=False)
class TaskUseCases:
    uow: TaskUnitOfWorkFactory
    listing: TaskListing
    cursors: CursorCodec
    clock: Clock
    ids: IdFactory

    async def create(self, actor: UUID, organization_id: UUID, data: TaskCreate) -> TaskRead:
        """A task of the organization created by ``actor``, a member of it (``created_by``)."""
        async with self.uow() as uow:
            task = await self.add(uow, actor, organization_id, data)
            await uow.commit()
        return TaskRead.from_entity(task)

    async def add(self, uow: TaskUnitOfWork, actor: UUID, organization_id: UUID, data: TaskCreate) -> Task:
        """``create`` inside the caller's unit of work (which commits): for a caller with more to do in the
        same transaction, such as claiming the inbound message that asks for the task."""
        fields = data.fields()
        await enter_organization(uow, organization_id, actor)
        await _check_assignee(uow, organization_id, fields)
        task = Task.create(
            id=self.ids(), organization_id=organization_id, created_by=actor, now=self.clock(), fields=fields
        )
        await uow.tasks.add(task)
        return task

    async def get(self, actor: UUID, organization_id: UUID, task_id: UUID) -> TaskRead:
        async with self.uow() as uow:
            await enter_organization(uow, organization_id, actor)
            task = await _existing(uow, task_id)
        return TaskRead.from_entity(task)

    async def list(self, actor: UUID, organization_id: UUID, params: Mapping[str, Sequence[str]]) -> Page[TaskRead]:
        """One page of the organization's tasks as the query parameters ask (see ``app.application.listing``).

        The membership is checked first, in a transaction of its own that ends before the page is
        read: a request holds one database connection at a time.
        """
        query = parse_list_query(params, TASK_LISTING, self.cursors)
        async with self.uow() as uow:
            await enter_organization(uow, organization_id, actor)
        page = await self.listing.page(organization_id, query)
        return Page(
            items=[TaskRead.from_entity(task) for task in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
            next_cursor=page.next_cursor,
        )

    async def update(self, actor: UUID, organization_id: UUID, task_id: UUID, patch: TaskPatch) -> TaskRead:
        """Change a task: its creator, its assignee, or an admin (or owner) of the organization may."""
        changes = patch.changes()
        async with self.uow() as uow:
            membership = await enter_organization(uow, organization_id, actor)
            task = await _existing(uow, task_id, for_update=True)
            if not task.may_edit(membership):
                raise Forbidden("Only the task's creator, its assignee or an admin of the organization may change it")
            if changes.get("assignee_id") not in (None, task.assignee_id):
                await _check_assignee(uow, organization_id, changes)
            if task.update(changes, actor, self.clock()):
                await uow.tasks.save(task)
                await uow.commit()
        return TaskRead.from_entity(task)

    async def delete(self, actor: UUID, organization_id: UUID, task_id: UUID) -> None:
        """Soft-delete a task: its creator, or an admin (or owner) of the organization may."""
        async with self.uow() as uow:
            membership = await enter_organization(uow, organization_id, actor)
            task = await _existing(uow, task_id, for_update=True)
            if not task.may_delete(membership):
                raise Forbidden("Only the task's creator or an admin of the organization may delete it")
            task.delete(self.clock())
            await uow.tasks.save(task)
            await uow.commit()


async def _existing(uow: TaskUnitOfWork, task_id: UUID, *, for_update: bool = False) -> Task:
    task = await uow.tasks.get(task_id, for_update=for_update)
    if task is None:
        raise TaskNotFound(task_id)
    return task


async def _check_assignee(uow: TaskUnitOfWork, organization_id: UUID, fields: Mapping[str, Any]) -> None:
    """An assignee must be a member of the task's organization."""
    assignee_id = fields.get("assignee_id")
    if assignee_id is not None and await uow.memberships.get(organization_id, assignee_id) is None:
        raise ValidationFailed.single("assignee_id", "Must be a member of the organization")
