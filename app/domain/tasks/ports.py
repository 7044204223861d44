"""What the task aggregate needs from persistence, in domain terms.

The repository is tenant-scoped: it reads and writes the tasks of the organization its
unit of work entered, and nothing else (an id of another organization's task is simply
not found).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from app.domain.tasks.model import Task


class TaskRepository(Protocol):
    async def get(self, task_id: UUID, *, for_update: bool = False) -> Task | None:
        """The organization's task, unless it does not exist, is another organization's or was deleted.

        ``for_update`` locks it until the unit of work ends, so that a change cannot undo a
        concurrent one read before it.
        """

    async def add(self, task: Task) -> None:
        """Stage a new task of the organization."""

    async def save(self, task: Task) -> None:
        """Stage the changes made to a loaded task."""

    async def due_for_reminder(
        self, due_from: datetime, due_before: datetime, *, after: tuple[datetime, UUID] | None = None, limit: int
    ) -> list[Task]:
        """The organization's open, assigned tasks due in ``[due_from, due_before)`` whose due date
        has had no reminder yet, in ``(due_at, id)`` order, after the position ``after`` if given."""
