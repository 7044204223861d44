"""The task emails on PostgreSQL and a real SMTP server: once per assignment, once per due date.

The jobs run on the in-process job broker (no ``REDIS_URL``), started by the relay's
in-process destination as in a served API; the reminders' scan is called as the scheduled
job calls it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from uuid import UUID

import pytest

from app.application.tasks.dto import TaskCreate, TaskPatch, TaskRead
from app.application.tasks.notifications import TaskEmails
from app.application.users.dto import AdminUserPatch
from app.bootstrap import Container, build_container, utc_now
from app.domain.organizations.values import OrgRole
from app.infrastructure.config import Settings
from app.infrastructure.email import create_email_sender
from tests.conftest import make_settings
from tests.support.factories import PASSWORD
from tests.support.smtp import SmtpSink
from tests.support.tenancy import create_organization, delete_organization

MAIL_WITHIN_SECONDS = 10.0


@pytest.fixture
def smtp_settings(settings: Settings, smtp: SmtpSink) -> Settings:
    return make_settings(settings.database_url, SMTP_URL=smtp.url)


@pytest.fixture
async def mailing(smtp_settings: Settings) -> AsyncIterator[Container]:
    container = build_container(smtp_settings)
    yield container
    await container.close()


@dataclass(frozen=True)
class Team:
    org_id: UUID
    lead: UUID
    ada: UUID
    bob: UUID

    def __getitem__(self, name: str) -> UUID:
        return {"lead": self.lead, "ada": self.ada, "bob": self.bob}[name]


async def _team(container: Container, name: str = "Acme") -> Team:
    ids = []
    for person in ("lead", "ada", "bob"):
        ids.append((await container.users.sign_up(f"{person}.{name.lower()}@example.com", PASSWORD, {})).id)
    lead, ada, bob = ids
    org_id = await create_organization(
        container.engine, {lead: OrgRole.ADMIN, ada: OrgRole.MEMBER, bob: OrgRole.MEMBER}, name=name
    )
    return Team(org_id, lead, ada, bob)


async def _relay_and_run_jobs(container: Container) -> None:
    """What a served API does after a commit: the relay hands the events over, their jobs run."""
    await container.relay.publish_pending()
    await container.jobs.broker.wait_all()  # type: ignore[attr-defined]  # the in-process broker's


def _task_emails(smtp: SmtpSink) -> list[EmailMessage]:
    """The task emails kept (signing up the team sends welcome emails too)."""
    return [message for message in smtp.messages if "task" in message["Subject"]]


def _addressees(smtp: SmtpSink) -> list[str]:
    return [message["To"] for message in _task_emails(smtp)]


async def _wait_for_task_emails(smtp: SmtpSink, count: int) -> list[EmailMessage]:
    for _ in range(round(MAIL_WITHIN_SECONDS / 0.05)):
        if len(_task_emails(smtp)) >= count:
            break
        await asyncio.sleep(0.05)
    return _task_emails(smtp)


async def test_an_assignee_is_told_of_each_assignment_once(mailing: Container, smtp: SmtpSink) -> None:
    team = await _team(mailing)
    task = await mailing.tasks.create(team.lead, team.org_id, TaskCreate(title="Fix the roof", assignee_id=team.ada))
    await _relay_and_run_jobs(mailing)

    (message,) = await _wait_for_task_emails(smtp, 1)
    assert message["To"] == "ada.acme@example.com"
    body = message.get_body(("plain",))
    assert body is not None
    assert "Fix the roof" in body.get_content()
    assert "Acme" in body.get_content()

    # The job again (a retry, a second relaying): the assignment was told.
    again = await mailing.jobs.send_task_assigned_email.kiq(
        str(team.org_id), str(task.id), str(team.ada), task.created_at.isoformat()
    )
    assert (await again.wait_result(timeout=MAIL_WITHIN_SECONDS)).return_value is False
    # A title change is no assignment; a new one (to Bob, then Ada again) is told anew.
    for change in (
        TaskPatch(title="Fix the roof today"),
        TaskPatch(assignee_id=team.bob),
        TaskPatch(assignee_id=team.ada),
    ):
        await mailing.tasks.update(team.lead, team.org_id, task.id, change)
        await _relay_and_run_jobs(mailing)

    await _wait_for_task_emails(smtp, 3)
    assert _addressees(smtp) == ["ada.acme@example.com", "bob.acme@example.com", "ada.acme@example.com"]


async def test_two_runs_of_one_assignment_send_one_email(mailing: Container, smtp: SmtpSink) -> None:
    team = await _team(mailing)
    task = await mailing.tasks.create(team.lead, team.org_id, TaskCreate(title="Once", assignee_id=team.ada))

    sent = await asyncio.gather(
        *(mailing.task_emails.send_assigned(team.org_id, task.id, team.ada, task.created_at) for _ in range(2))
    )

    assert sorted(sent) == [False, True]
    assert _addressees(smtp) == ["ada.acme@example.com"]


async def test_a_stale_assignment_is_not_told(mailing: Container, smtp: SmtpSink) -> None:
    """Reassigned before the job ran: the old assignee hears nothing of a task no longer theirs."""
    team = await _team(mailing)
    task = await mailing.tasks.create(team.lead, team.org_id, TaskCreate(title="Moved", assignee_id=team.ada))
    await mailing.tasks.update(team.lead, team.org_id, task.id, TaskPatch(assignee_id=team.bob))

    assert not await mailing.task_emails.send_assigned(team.org_id, task.id, team.ada, task.created_at)
    assert _task_emails(smtp) == []


async def _due(container: Container, team: Team, title: str, due_in: timedelta, **fields: object) -> TaskRead:
    body = {"title": title, "assignee_id": team.ada, "due_at": datetime.now(UTC) + due_in, **fields}
    return await container.tasks.create(team.lead, team.org_id, TaskCreate(**body))  # type: ignore[arg-type]


async def test_due_reminders_go_out_once_per_due_date_however_many_schedulers_run(
    mailing: Container, smtp: SmtpSink
) -> None:
    acme, other, gone = await _team(mailing), await _team(mailing, "Other"), await _team(mailing, "Gone")
    soon = await _due(mailing, acme, "Soon", timedelta(hours=2))
    await _due(mailing, other, "Soon elsewhere", timedelta(hours=20))
    await _due(mailing, acme, "Later", timedelta(days=2))
    await _due(mailing, acme, "Overdue", -timedelta(hours=1))
    just_due = await _due(mailing, acme, "Fell due since the last scan", -timedelta(minutes=5))
    await _due(mailing, acme, "Done", timedelta(hours=2), status="done")
    await _due(mailing, acme, "Unassigned", timedelta(hours=2), assignee_id=None)
    deleted = await _due(mailing, acme, "Deleted", timedelta(hours=2))
    await mailing.tasks.delete(acme.lead, acme.org_id, deleted.id)
    await _due(mailing, gone, "In a deleted organization", timedelta(hours=2))
    await delete_organization(mailing.engine, gone.org_id)

    runs = await asyncio.gather(mailing.task_emails.send_due_reminders(), mailing.task_emails.send_due_reminders())

    assert sum(runs) == 3
    assert sorted(_addressees(smtp)) == ["ada.acme@example.com", "ada.acme@example.com", "ada.other@example.com"]
    assert sum(just_due.title in str(m.get_body(("plain",))) for m in _task_emails(smtp)) == 1
    assert await mailing.task_emails.send_due_reminders() == 0

    # A new due date is reminded of anew; the old one's reminder does not count for it.
    await mailing.tasks.update(
        acme.lead, acme.org_id, soon.id, TaskPatch(due_at=datetime.now(UTC) + timedelta(hours=5))
    )
    assert await mailing.task_emails.send_due_reminders() == 1
    assert len(_task_emails(smtp)) == 4
    body = _task_emails(smtp)[-1].get_body(("plain",))
    assert body is not None
    assert "Soon" in body.get_content()


async def test_a_scan_moves_past_tasks_it_skips(mailing: Container, smtp: SmtpSink, smtp_settings: Settings) -> None:
    """Tasks of a deactivated assignee stay unclaimed: a scan in batches must not read them forever."""
    team = await _team(mailing)
    for n in range(3):
        await _due(mailing, team, f"Skipped {n}", timedelta(hours=1 + n))
    await _due(mailing, team, "Reminded", timedelta(hours=5), assignee_id=team.bob)
    await mailing.administration.update(team.ada, AdminUserPatch(is_active=False))
    in_pairs = TaskEmails(
        uow=mailing.tasks.uow,
        sender=create_email_sender(smtp_settings),
        clock=utc_now,
        reminder_window=timedelta(days=1),
        batch_size=2,
    )

    async with asyncio.timeout(MAIL_WITHIN_SECONDS):
        assert await in_pairs.send_due_reminders() == 1
    assert _addressees(smtp) == ["bob.acme@example.com"]
