"""The emails tasks cause: an assignee told of a new assignment, and of a due date coming up.

Each is sent at most once, as the account emails are (``app.application.notifications``):
a claim, the send and the commit in one transaction, the claim keyed by what makes the
email one — the assignment (task and moment) or the due date (task and date). A retried
job, or two schedulers running the same scan, find the claim taken and send nothing.

These run as the service, not as a member: there is no membership to check. Each
transaction is scoped to the task's organization, so row-level security still confines
what it reads and writes. The reminders' scan walks the organizations (the registry of
tenants, which no policy guards) and scans each one's tasks in a transaction scoped to it:
with ``FORCE ROW LEVEL SECURITY`` a cross-organization scan would see nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

from app.application.notifications import EmailMessage, EmailSender, compose
from app.application.ports import Clock
from app.application.tasks.ports import NoticeKind, TaskUnitOfWork, TaskUnitOfWorkFactory
from app.domain.tasks.model import Task
from app.domain.users.model import User

#: An email about a task: to its assignee, naming the organization, for the moment it is about.
Message = Callable[[User, Task, str, datetime], EmailMessage]
#: Organizations read per round trip, and tasks reminded of per organization per round trip.
BATCH_SIZE = 500
#: How long past its due date a task is still reminded of: the scans' period (every 15
#: minutes), so that a task falling due between two scans (created due in ten minutes, say)
#: is reminded by the next one. A task overdue for longer was due before any scan could see it.
LATE_BY_AT_MOST = timedelta(minutes=15)


class TaskEmails:
    def __init__(
        self,
        *,
        uow: TaskUnitOfWorkFactory,
        sender: EmailSender,
        clock: Clock,
        reminder_window: timedelta,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._uow = uow
        self._sender = sender
        self._clock = clock
        self._window = reminder_window
        self._batch_size = batch_size

    async def send_assigned(
        self, organization_id: UUID, task_id: UUID, assignee_id: UUID, assigned_at: datetime
    ) -> bool:
        """Tell the assignee of one assignment (the ``task.assigned`` event's); True when this call sent it.

        Nothing is sent when the assignment no longer holds (the task was reassigned, deleted,
        or its organization deleted since) or the assignee cannot be reached (deactivated).
        """
        async with self._uow() as uow:
            await uow.scope_to(organization_id)
            task = await uow.tasks.get(task_id)
            if task is None or task.assignee_id != assignee_id:
                return False
            sent = await self._send_once(
                uow, task, assignee_id, NoticeKind.ASSIGNED, moment=assigned_at, message=assigned_message
            )
            if sent:
                await uow.commit()
        return sent

    async def send_due_reminders(self) -> int:
        """Remind the assignee of each open task due within the window, once per due date.

        Returns how many reminders this run sent.
        """
        now = self._clock()
        sent = 0
        after: UUID | None = None
        while True:
            async with self._uow() as uow:
                organizations = await uow.task_notices.organization_ids(after=after, limit=self._batch_size)
            for organization_id in organizations:
                sent += await self._remind(organization_id, now)
            if len(organizations) < self._batch_size:
                return sent
            after = organizations[-1]

    async def _remind(self, organization_id: UUID, now: datetime) -> int:
        """One organization's reminders: its due tasks scanned in batches, each sent in a transaction of its own,
        so that a failed send rolls back its own claim only.

        The scan moves on by position, not by what was claimed: a task skipped (its assignee
        deactivated) stays unclaimed, and must not come back in the next batch.
        """
        sent = 0
        due_from, due_before = self._due_between(now)
        after: tuple[datetime, UUID] | None = None
        while True:
            async with self._uow() as uow:
                await uow.scope_to(organization_id)
                due = await uow.tasks.due_for_reminder(due_from, due_before, after=after, limit=self._batch_size)
            for task in due:
                sent += await self._remind_one(organization_id, task.id, now)
            if len(due) < self._batch_size:
                return sent
            after = (due[-1].due_at or due_before, due[-1].id)  # every task scanned has a due date

    async def _remind_one(self, organization_id: UUID, task_id: UUID, now: datetime) -> int:
        async with self._uow() as uow:
            await uow.scope_to(organization_id)
            # Read again, locked: changed since the scan (reassigned, done, moved), it is judged as it is now.
            task = await uow.tasks.get(task_id, for_update=True)
            if task is None or not task.status.is_open or task.assignee_id is None or task.due_at is None:
                return 0
            due_from, due_before = self._due_between(now)
            if not due_from <= task.due_at < due_before:
                return 0
            if not await self._send_once(
                uow, task, task.assignee_id, NoticeKind.DUE, moment=task.due_at, message=reminder_message
            ):
                return 0
            await uow.commit()
        return 1

    def _due_between(self, now: datetime) -> tuple[datetime, datetime]:
        """The due dates a scan at ``now`` reminds of: within the window ahead, or fallen due since the last scan."""
        return now - LATE_BY_AT_MOST, now + self._window

    async def _send_once(
        self,
        uow: TaskUnitOfWork,
        task: Task,
        assignee_id: UUID,
        kind: NoticeKind,
        *,
        moment: datetime,
        message: Message,
    ) -> bool:
        """Claim the notice and send it to the assignee, in ``uow``'s transaction (the caller commits);
        False when it is not owed (sent already, the organization or the assignee gone)."""
        organization = await uow.task_notices.organization_name(task.organization_id)
        assignee = await uow.users.get(assignee_id)
        if organization is None or assignee is None or not assignee.is_active:
            return False
        if not await uow.task_notices.claim(task.id, kind, moment, self._clock()):
            return False
        await self._sender.send(message(assignee, task, organization, moment))
        return True


def assigned_message(assignee: User, task: Task, organization: str, assigned_at: datetime) -> EmailMessage:
    return compose(
        to=assignee,
        subject="A task was assigned to you",
        paragraphs=[f"in {organization}, the task “{task.title}” is now yours."],
        link=None,
        reference=f"{NoticeKind.ASSIGNED}.{task.id}.{assigned_at.isoformat()}",
    )


def reminder_message(assignee: User, task: Task, organization: str, due_at: datetime) -> EmailMessage:
    return compose(
        to=assignee,
        subject="A task of yours is due soon",
        paragraphs=[f"in {organization}, the task “{task.title}” is due {due_at:%Y-%m-%d %H:%M} UTC."],
        link=None,
        reference=f"{NoticeKind.DUE}.{task.id}.{due_at.isoformat()}",
    )
