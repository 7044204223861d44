"""The job stack, imported and built the first time a process needs it.

Importing Taskiq costs an API worker about a third of its start (the package imports
aiohttp for an admin middleware this service does not use), while most requests never
enqueue a job. So the composition root holds this instead of a broker: the broker and the
jobs on it are made when a job is first enqueued, or when a job worker or the scheduler
asks for them. Nothing here imports Taskiq at module level, and nothing must.

A serving process imports the stack in a thread once it serves (``warm_up``): imported by
the first enqueue instead, it would stall the event loop, and every request on it, for as
long as the import takes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from app.application.auth.lifecycle import AccountLifecycle
from app.application.auth.purge import SessionPurge
from app.application.notifications import WelcomeEmails
from app.application.organizations.invitations import Invitations
from app.application.tasks.notifications import TaskEmails
from app.domain.tasks.events import TaskAssigned
from app.domain.users.events import UserRegistered
from app.infrastructure.config import Settings
from app.infrastructure.outbox.subscribers import CommittedEvents

if TYPE_CHECKING:
    from taskiq import AsyncBroker

    from app.infrastructure.jobs.definitions import Jobs


@dataclass(frozen=True, slots=True, kw_only=True)
class JobUseCases:
    """The use cases the jobs call."""

    welcome_emails: WelcomeEmails
    account_lifecycle: AccountLifecycle
    invitations: Invitations
    session_purge: SessionPurge
    task_emails: TaskEmails


class DeferredJobs:
    """The process's ``Jobs``, built on first use; also the use cases' ``AccountEmailJobs``
    and ``InvitationEmailJobs``.

    The use cases are built over this object before the jobs that call them exist, so
    they are handed over afterwards (``bind``); a job can be enqueued only once they are.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._use_cases: JobUseCases | None = None
        self._jobs: Jobs | None = None

    def bind(self, use_cases: JobUseCases) -> None:
        """Hand over the use cases the jobs call (once, from the composition root)."""
        self._use_cases = use_cases

    @property
    def jobs(self) -> Jobs:
        """The job broker with the jobs registered on it, imported and made on the first call."""
        if self._jobs is None:
            if self._use_cases is None:
                raise RuntimeError("the jobs' use cases are not bound yet")
            create_job_broker, jobs = _job_stack()
            self._jobs = jobs(
                create_job_broker(self._settings),
                welcome_emails=self._use_cases.welcome_emails,
                account_lifecycle=self._use_cases.account_lifecycle,
                invitations=self._use_cases.invitations,
                session_purge=self._use_cases.session_purge,
                task_emails=self._use_cases.task_emails,
                purge_cron=self._settings.purge_sessions_cron,
                welcome_sweep_cron=self._settings.welcome_sweep_cron,
            )
        return self._jobs

    async def warm_up(self) -> None:
        """Import the job stack in a thread, so that the first enqueue does not stall the event loop.

        The thread shares the interpreter with the requests served meanwhile, in slices of the
        switch interval; an enqueue that comes first waits for the import's end, no longer.
        """
        await asyncio.to_thread(_job_stack)

    async def send_email_verification(self, user_id: UUID, request_id: UUID) -> None:
        await self.jobs.send_email_verification.kiq(str(user_id), str(request_id))

    async def send_password_reset(self, email: str, request_id: UUID) -> None:
        await self.jobs.send_password_reset.kiq(email, str(request_id))

    async def send_invitation_email(self, invitation_id: UUID) -> None:
        await self.jobs.send_invitation_email.kiq(str(invitation_id))

    def start_on(self, events: CommittedEvents) -> None:
        """Jobs that committed events start: ``UserRegistered`` → ``send_welcome_email(user_id)``,
        ``TaskAssigned`` → ``send_task_assigned_email(organization_id, task_id, assignee_id, assigned_at)``.

        The relay hands an event to its subscribers once it is committed, and marks it handled
        only once they returned: a job that could not be enqueued (Redis down) is enqueued
        when the relay tries the event again, so none is lost (some may be enqueued twice,
        which the jobs shrug off: each email is a claim).
        """

        async def welcome(event: UserRegistered) -> None:
            await self.jobs.send_welcome_email.kiq(str(event.user_id))

        async def assigned(event: TaskAssigned) -> None:
            await self.jobs.send_task_assigned_email.kiq(
                str(event.organization_id), str(event.task_id), str(event.assignee_id), event.occurred_at.isoformat()
            )

        events.subscribe(UserRegistered, welcome)
        events.subscribe(TaskAssigned, assigned)

    async def shutdown(self) -> None:
        """Shut the broker down, if it was ever made (in-process: lets the jobs in flight finish)."""
        if self._jobs is not None:
            await self._jobs.broker.shutdown()


def _job_stack() -> tuple[Callable[[Settings], AsyncBroker], type[Jobs]]:
    """Taskiq and the jobs on it: imported on the first call, which is the point."""
    from app.infrastructure.jobs.broker import create_job_broker  # noqa: PLC0415 - see the module's docstring
    from app.infrastructure.jobs.definitions import Jobs  # noqa: PLC0415 - see the module's docstring

    return create_job_broker, Jobs
