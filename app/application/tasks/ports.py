"""The tasks context's ports: its unit of work, its listing, and the once-only record of its emails."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from app.application.listing import ListQuery, Page
from app.application.organizations.ports import OrganizationUnitOfWork
from app.domain.tasks.model import Task
from app.domain.tasks.ports import TaskRepository


class NoticeKind(StrEnum):
    """The emails a task causes, each sent once per ``(task, kind, moment)``."""

    #: Moment: when the assignment was made (each assignment is told once).
    ASSIGNED = "assigned"
    #: Moment: the due date reminded of (each due date is reminded of once).
    DUE = "due"


class TaskNotices(Protocol):
    """What the task emails need beyond the tasks: their once-only claims, and the organizations they name."""

    async def claim(self, task_id: UUID, kind: NoticeKind, moment: datetime, now: datetime) -> bool:
        """Record that this notice goes out now; False when another claim holds it.

        The claim commits with the unit of work: claimed, sent, then committed, a notice goes
        out at most once — a second claim waits for the first transaction and then finds it
        (or, if that one rolled back because the send failed, takes its place).
        """

    async def organization_name(self, organization_id: UUID) -> str | None:
        """The organization's name as its emails give it; None once it is deleted."""

    async def organization_ids(self, *, after: UUID | None, limit: int) -> Sequence[UUID]:
        """Live organizations in id order, after ``after``: a scan across tenants, one tenant at a time."""


class TaskUnitOfWork(OrganizationUnitOfWork, Protocol):
    """A unit of work that also reaches the tasks of the organization it entered."""

    @property
    def tasks(self) -> TaskRepository: ...

    @property
    def task_notices(self) -> TaskNotices: ...


TaskUnitOfWorkFactory = Callable[[], TaskUnitOfWork]


class TaskListing(Protocol):
    """The read side of one organization's tasks: a page of a filtered, ordered listing."""

    async def page(self, organization_id: UUID, query: ListQuery) -> Page[Task]: ...
