"""What the tasks context does when the tenancy's events happen, in the same transaction.

Registered by event class in the composition root (``reactions``); the unit of work runs
each at commit, before the transaction ends, so the change and its consequence commit or
roll back together.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.organizations.events import MemberRemoved
from app.domain.tasks.events import TaskUpdated
from app.infrastructure.db.tasks.models import TASKS


async def unassign_removed_member(session: AsyncSession, event: MemberRemoved) -> list[TaskUpdated]:
    """A member who left (or was removed) is nobody's assignee in that organization any more.

    One statement over ``ix_tasks_organization_id_assignee_id``. The removal's transaction
    is scoped to the organization, so row-level security admits these rows and no other.
    Each task it changes is a ``task.updated`` like any other change of assignee, so that
    subscribers keeping their own view of the tasks hear of it; deleted tasks are left
    as they were.
    """
    statement = (
        update(TASKS)
        .where(
            TASKS.c.organization_id == event.organization_id,
            TASKS.c.assignee_id == event.user_id,
            TASKS.c.deleted_at.is_(None),
        )
        .values(assignee_id=None, updated_at=event.occurred_at)
        .returning(TASKS.c.id)
    )
    unassigned = (await session.execute(statement)).scalars().all()
    return [
        TaskUpdated(
            task_id=task_id, organization_id=event.organization_id, occurred_at=event.occurred_at,
            changed=("assignee_id",),
        )
        for task_id in unassigned
    ]  # fmt: skip
