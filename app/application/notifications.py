"""Email the service sends, each at most once per user however often its job runs.

Emails go out from background jobs, and a job may run more than once: it is retried
after a failure and run again when the worker that had it died. So sending is a claim,
a send and a commit in one transaction (see ``WelcomeEmails.send``), not a flag checked
beforehand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
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
    """Sends each user's welcome email once, and finds the users still owed one.

    The email is promised to every sign-up, and its job can be lost for good: given up
    after its last attempt (the mail server refused it each time), or gone with a Redis
    that kept nothing. ``owed`` finds those users, for a periodic sweep to start their
    jobs again: anyone registered more than ``grace`` ago (time enough for the first job
    and its retries) and less than ``lookback`` ago (a bound on the search, and on how
    long a refused address keeps being tried) without a claim.
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        sender: EmailSender,
        clock: Clock,
        grace: timedelta = timedelta(minutes=10),
        lookback: timedelta = timedelta(days=1),
        batch_size: int = 1000,
    ) -> None:
        self._uow = uow
        self._sender = sender
        self._clock = clock
        self._grace = grace
        self._lookback = lookback
        self._batch_size = batch_size

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

    async def owed(self) -> list[UUID]:
        """Users still owed their welcome email (at most ``batch_size``, oldest first; see the class)."""
        now = self._clock()
        async with self._uow() as uow:
            return await uow.sent_emails.owed(
                WELCOME,
                registered_from=now - self._lookback,
                registered_before=now - self._grace,
                limit=self._batch_size,
            )


def welcome_message(user: User) -> EmailMessage:
    greeting = f"Hello {user.first_name}," if user.first_name else "Hello,"
    return EmailMessage(
        to=user.email,
        subject="Welcome aboard",
        text=f"{greeting}\n\nyour account {user.email} is ready. Welcome!\n",
        reference=f"{WELCOME}.{user.id}",
    )
