"""Ports every context shares: the unit of work over the accounts' repositories, time, ids, outages.

A context's own ports live with it (``app.application.auth.ports``,
``app.application.users.ports``); infrastructure provides the adapters, tests provide fakes.
A context with repositories of its own extends the unit of work with them
(``app.application.organizations.ports.OrganizationUnitOfWork``), so adding one touches
no other context's port.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from app.domain.auth.ports import AccountTokenRepository, ApiKeyRepository, RefreshTokenRepository, SessionRepository
from app.domain.users.ports import UserRepository


class DependencyUnavailable(Exception):
    """A backing service (database, cache, broker) cannot be reached right now.

    Not a ``DomainError``: it says nothing about the request, only that it can be retried.
    """

    def __init__(self, dependency: str) -> None:
        super().__init__(f"The {dependency} is unavailable")
        self.dependency = dependency


class Inbox(Protocol):
    async def claim(self, message_id: UUID, message_type: str, now: datetime) -> bool:
        """Record a message as applied; False when it already was (a duplicate or redelivery).

        The claim commits with the change the message causes, so a message is applied
        at most once even if the consumer dies after the change and before the ack.
        """

    async def claim_many(self, claims: Sequence[tuple[UUID, str]], now: datetime) -> set[UUID]:
        """Record many ``(message id, type)`` as applied in one statement; returns the ids newly claimed.

        An id already claimed (or twice among ``claims``) is claimed once, as ``claim`` does.
        """


class SentEmails(Protocol):
    async def claim(self, user_id: UUID, kind: str, now: datetime) -> bool:
        """Record that the ``kind`` email to this user goes out now; False when another claim holds it.

        The claim commits with the unit of work, so a use case that claims, sends and then
        commits sends at most once: a second claim waits for the first transaction and then
        finds it (or, if that one rolled back because the send failed, takes its place).
        """

    async def owed(
        self, kind: str, *, registered_from: datetime, registered_before: datetime, limit: int
    ) -> list[UUID]:
        """Active users registered in ``[registered_from, registered_before)`` with no ``kind`` claim, oldest first."""


class UnitOfWork(Protocol):
    """One transaction over every repository.

    Leaving the ``async with`` block without ``commit()`` rolls back, so a use case that
    raises half-way leaves nothing behind. Adapters translate storage failures into
    ``DependencyUnavailable`` and uniqueness violations into domain conflicts.
    """

    @property
    def users(self) -> UserRepository: ...

    @property
    def sessions(self) -> SessionRepository: ...

    @property
    def refresh_tokens(self) -> RefreshTokenRepository: ...

    @property
    def api_keys(self) -> ApiKeyRepository: ...

    @property
    def account_tokens(self) -> AccountTokenRepository: ...

    @property
    def inbox(self) -> Inbox: ...

    @property
    def sent_emails(self) -> SentEmails: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def commit(self) -> None: ...

    async def scope_to(self, organization_id: UUID) -> None:
        """Confine the transaction (and any later one of this unit of work) to one organization.

        Tenant-scoped repositories filter by it, and on PostgreSQL row-level security
        enforces it as well, so a statement that forgot its filter still sees only this
        organization's rows. Called by the membership check, once it has passed.
        """


UnitOfWorkFactory = Callable[[], UnitOfWork]
Clock = Callable[[], datetime]
IdFactory = Callable[[], UUID]
