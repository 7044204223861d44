"""The service's jobs, registered on the job broker together with the use cases they call.

Each job is a thin adapter, message arguments in, one use case called. The use cases come
from the composition root through the broker's dependency context (``TaskiqDepends``), so
a worker runs the very objects the API runs, and no job reaches for module-level state.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import structlog
from taskiq import AsyncBroker, TaskiqDepends

from app.application.auth.lifecycle import AccountLifecycle
from app.application.auth.purge import SessionPurge
from app.application.notifications import WelcomeEmails
from app.application.organizations.invitations import Invitations
from app.application.tasks.notifications import TaskEmails

log = structlog.get_logger("app.jobs")

#: The periodic jobs' entries in the scheduler (stable, so that schedule sources can recognise them).
PURGE_SCHEDULE_ID = "purge_expired_sessions.cron"
WELCOME_SWEEP_SCHEDULE_ID = "send_owed_welcome_emails.cron"
DUE_REMINDERS_SCHEDULE_ID = "send_due_reminders.cron"
#: The contract's "every 15 minutes"; how far ahead is TASK_REMINDER_WINDOW_SECONDS.
DUE_REMINDERS_CRON = "*/15 * * * *"


async def send_welcome_email(user_id: str, emails: WelcomeEmails = TaskiqDepends()) -> bool:
    """Welcome a newly registered user by email, once (see ``WelcomeEmails.send``)."""
    sent = await emails.send(UUID(user_id))
    # "skipped": sent before (this is a repeat run), or the user is gone or deactivated.
    log.info("welcome_email_sent" if sent else "welcome_email_skipped", user_id=user_id)
    return sent


async def send_owed_welcome_emails(emails: WelcomeEmails = TaskiqDepends(), jobs: Jobs = TaskiqDepends()) -> int:
    """Start the welcome email job again for every user still owed one (see ``WelcomeEmails.owed``).

    What recovers an email whose job was given up or lost. Running it twice, or while the
    first job still retries, costs a job run, never a second email: the send is a claim
    (``WelcomeEmails.send``).
    """
    owed = await emails.owed()
    for user_id in owed:
        await jobs.send_welcome_email.kiq(str(user_id))
    log.info("welcome_emails_owed", count=len(owed))
    return len(owed)


async def send_email_verification(user_id: str, request_id: str, lifecycle: AccountLifecycle = TaskiqDepends()) -> bool:
    """Mail a fresh verification link, once per request (see ``AccountLifecycle.send_email_verification``)."""
    sent = await lifecycle.send_email_verification(UUID(user_id), UUID(request_id))
    # "skipped": sent before, or the user is gone, deactivated or verified meanwhile.
    log.info("verification_email_sent" if sent else "verification_email_skipped", user_id=user_id)
    return sent


async def send_password_reset(email: str, request_id: str, lifecycle: AccountLifecycle = TaskiqDepends()) -> bool:
    """Mail a password-reset link if the address is a real, active account, once per request."""
    sent = await lifecycle.send_password_reset(email, UUID(request_id))
    # The address stays out of the log: which addresses have accounts is what the request hides.
    log.info("password_reset_email_sent" if sent else "password_reset_email_skipped", request_id=request_id)
    return sent


async def send_invitation_email(invitation_id: str, invitations: Invitations = TaskiqDepends()) -> bool:
    """Mail an invitation its link, once (see ``Invitations.send_email``)."""
    sent = await invitations.send_email(UUID(invitation_id))
    # "skipped": sent before, or the invitation was replaced, revoked, accepted or has expired meanwhile.
    log.info("invitation_email_sent" if sent else "invitation_email_skipped", invitation_id=invitation_id)
    return sent


async def purge_expired_sessions(purge: SessionPurge = TaskiqDepends()) -> int:
    """Delete ended sessions and their refresh tokens (see ``SessionPurge``)."""
    purged = await purge.purge()
    log.info("sessions_purged", count=purged)
    return purged


async def send_task_assigned_email(
    organization_id: str, task_id: str, assignee_id: str, assigned_at: str, emails: TaskEmails = TaskiqDepends()
) -> bool:
    """Tell an assignee of their new task, once per assignment (see ``TaskEmails.send_assigned``)."""
    sent = await emails.send_assigned(
        UUID(organization_id), UUID(task_id), UUID(assignee_id), datetime.fromisoformat(assigned_at)
    )
    # "skipped": sent before (a repeat run), or the assignment no longer holds.
    log.info("task_assigned_email_sent" if sent else "task_assigned_email_skipped", task_id=task_id)
    return sent


async def send_due_reminders(emails: TaskEmails = TaskiqDepends()) -> int:
    """Remind assignees of their open tasks due soon, once per due date (see ``TaskEmails.send_due_reminders``)."""
    sent = await emails.send_due_reminders()
    log.info("due_reminders_sent", count=sent)
    return sent


class Jobs:
    """The job broker with the jobs registered on it, and their handles for enqueueing them."""

    def __init__(
        self,
        broker: AsyncBroker,
        *,
        welcome_emails: WelcomeEmails,
        account_lifecycle: AccountLifecycle,
        invitations: Invitations,
        session_purge: SessionPurge,
        task_emails: TaskEmails,
        purge_cron: str,
        welcome_sweep_cron: str,
    ) -> None:
        broker.add_dependency_context(
            {
                WelcomeEmails: welcome_emails,
                AccountLifecycle: account_lifecycle,
                Invitations: invitations,
                SessionPurge: session_purge,
                TaskEmails: task_emails,
            }
        )
        self.broker = broker
        self.send_welcome_email = broker.register_task(send_welcome_email, task_name="send_welcome_email")
        # Enqueued by the use cases, through ``DeferredJobs``.
        self.send_email_verification = broker.register_task(
            send_email_verification, task_name="send_email_verification"
        )
        self.send_password_reset = broker.register_task(send_password_reset, task_name="send_password_reset")
        self.send_invitation_email = broker.register_task(send_invitation_email, task_name="send_invitation_email")
        # Read by the scheduler (``LabelScheduleSource``), each on its cron (PURGE_SESSIONS_CRON,
        # hourly by default; WELCOME_SWEEP_CRON, every ten minutes).
        self.purge_expired_sessions = broker.register_task(
            purge_expired_sessions,
            task_name="purge_expired_sessions",
            schedule=[{"cron": purge_cron, "schedule_id": PURGE_SCHEDULE_ID}],
        )
        self.send_owed_welcome_emails = broker.register_task(
            send_owed_welcome_emails,
            task_name="send_owed_welcome_emails",
            schedule=[{"cron": welcome_sweep_cron, "schedule_id": WELCOME_SWEEP_SCHEDULE_ID}],
        )
        # Enqueued by the relay's in-process destination on each committed task.assigned.
        self.send_task_assigned_email = broker.register_task(
            send_task_assigned_email, task_name="send_task_assigned_email"
        )
        self.send_due_reminders = broker.register_task(
            send_due_reminders,
            task_name="send_due_reminders",
            schedule=[{"cron": DUE_REMINDERS_CRON, "schedule_id": DUE_REMINDERS_SCHEDULE_ID}],
        )
        broker.add_dependency_context({Jobs: self})  # The sweep enqueues through the handles here.
