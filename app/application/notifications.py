"""Email the service sends, each at most once (per user, or per request) however often its job runs.

Emails go out from background jobs, and a job may run more than once: it is retried
after a failure and run again when the worker that had it died. So sending is a claim,
a send and a commit in one transaction (see ``WelcomeEmails.send``), not a flag checked
beforehand.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from uuid import UUID

from app.application.auth.links import AccountLinks
from app.application.ports import Clock, IdFactory, UnitOfWorkFactory
from app.domain.auth.model import TokenPurpose
from app.domain.users.model import User

#: The ``kind`` under which the welcome email is claimed (one per user).
WELCOME = "welcome"


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    #: The same content as HTML: mail clients show whichever alternative they prefer.
    html: str
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
        links: AccountLinks,
        clock: Clock,
        ids: IdFactory,
        grace: timedelta = timedelta(minutes=10),
        lookback: timedelta = timedelta(days=1),
        batch_size: int = 1000,
    ) -> None:
        self._uow = uow
        self._sender = sender
        self._links = links
        self._clock = clock
        self._ids = ids
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
        The email carries a verification link (its token issued in the same transaction)
        unless the address was verified meanwhile.
        """
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or not user.is_active:
                return False
            if not await uow.sent_emails.claim(user.id, WELCOME, self._clock()):
                return False
            link = None
            if not user.email_verified:
                link = await self._links.issue(uow, user.id, TokenPurpose.EMAIL_VERIFICATION, self._ids())
            await self._sender.send(welcome_message(user, link))
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


def welcome_message(user: User, verification_link: str | None) -> EmailMessage:
    verify = ["Please confirm that this address is yours:"] if verification_link else []
    return compose(
        to=user,
        subject="Welcome aboard",
        paragraphs=[f"your account {user.email} is ready. Welcome!", *verify],
        link=verification_link,
        reference=f"{WELCOME}.{user.id}",
    )


def verification_message(user: User, link: str, reference: str) -> EmailMessage:
    return compose(
        to=user,
        subject="Confirm your email address",
        paragraphs=[f"please confirm that {user.email} is your address by opening this link:"],
        link=link,
        reference=reference,
    )


def password_reset_message(user: User, link: str, reference: str) -> EmailMessage:
    return compose(
        to=user,
        subject="Reset your password",
        paragraphs=[
            "someone (hopefully you) asked to reset the password of your account. Open this link to choose a new one:",
            "If it was not you, ignore this email: your password stays as it is.",
        ],
        link=link,
        reference=reference,
    )


def invitation_message(*, to: str, organization: str, role: str, link: str, reference: str) -> EmailMessage:
    """An invitation to an address that may have no account yet: the link works once signed in as it."""
    return compose(
        to=to,
        subject=f"You are invited to {organization}",
        paragraphs=[
            f"you are invited to join {organization} as {role}. Sign in (or sign up) as {to} and open this link:",
        ],
        link=link,
        reference=reference,
    )


def compose(*, to: User | str, subject: str, paragraphs: list[str], link: str | None, reference: str) -> EmailMessage:
    """One message as plain text and as HTML, from the same paragraphs (and link, if any).

    ``to`` is a user (greeted by name) or a bare address.
    """
    first_name = to.first_name if isinstance(to, User) else None
    greeting = f"Hello {first_name}," if first_name else "Hello,"
    text_parts = [greeting, *paragraphs, *([link] if link else [])]
    html_parts = [f"<p>{html.escape(part)}</p>" for part in [greeting, *paragraphs]]
    if link:
        html_parts.append(f'<p><a href="{html.escape(link)}">{html.escape(link)}</a></p>')
    return EmailMessage(
        to=to.email if isinstance(to, User) else to,
        subject=subject,
        text="\n\n".join(text_parts) + "\n",
        html="<html><body>" + "".join(html_parts) + "</body></html>\n",
        reference=reference,
    )
