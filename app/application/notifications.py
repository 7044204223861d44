"""Email the service sends, each at most once per user however often its job runs.

Emails go out from background jobs, and a job may run more than once: it is retried
after a failure and run again when the worker that had it died. So sending is a claim,
a send and a commit in one transaction (see ``WelcomeEmails.send``), not a flag checked
beforehand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from app.application.ports import Clock, UnitOfWorkFactory
from app.domain.users.model import User

#: The ``kind`` under which the welcome email is claimed (one per user).
WELCOME = "welcome"


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    #: The same on every run of the job that sends it (``welcome.<user id>``); adapters
    #: make it the Message-ID, so that a copy sent twice is recognisably one message.
    reference: str


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Hand the message to the mail system; return once it is accepted, raise if it is not."""


class WelcomeEmails:
    def __init__(self, *, uow: UnitOfWorkFactory, sender: EmailSender, clock: Clock) -> None:
        self._uow = uow
        self._sender = sender
        self._clock = clock

    async def send(self, user_id: UUID) -> bool:
        """Send the user's welcome email unless it was sent already; True when this call sent it.

        The claim, the send and the commit share one transaction. A failed send rolls the
        claim back, so the retry sends; a second run at the same time waits on the first
        one's claim and then finds it taken. What remains is a process that dies after the
        mail server accepted the message and before the commit: the next run sends again,
        under the same Message-ID. A user deleted or deactivated meanwhile gets nothing.
        """
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or not user.is_active:
                return False
            if not await uow.sent_emails.claim(user.id, WELCOME, self._clock()):
                return False
            await self._sender.send(welcome_message(user))
            await uow.commit()
        return True


def welcome_message(user: User) -> EmailMessage:
    greeting = f"Hello {user.first_name}," if user.first_name else "Hello,"
    return EmailMessage(
        to=user.email,
        subject="Welcome aboard",
        text=f"{greeting}\n\nyour account {user.email} is ready. Welcome!\n",
        reference=f"{WELCOME}.{user.id}",
    )
