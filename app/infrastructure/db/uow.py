"""The SQLAlchemy unit of work, and the one place storage errors become application errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from functools import cached_property
from types import MappingProxyType, TracebackType
from typing import Any, ClassVar, Protocol, Self
from uuid import UUID

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.application.ports import DependencyUnavailable
from app.domain.errors import DomainError, EmailAlreadyRegistered
from app.domain.events import DomainEvent
from app.infrastructure.db.account_tokens import SqlAccountTokenRepository
from app.infrastructure.db.auth_repositories import SqlApiKeyRepository, SqlRefreshTokenRepository, SqlSessionRepository
from app.infrastructure.db.claims import SqlInbox, SqlSentEmails
from app.infrastructure.db.models import UQ_USERS_EMAIL
from app.infrastructure.db.repositories import PendingChanges, SqlUserRepository
from app.infrastructure.db.tenancy import TenantScope
from app.infrastructure.outbox.tracing import EventTracing
from app.infrastructure.outbox.writer import OutboxWakeup, write_events

ConstraintErrors = Mapping[str, Callable[[], DomainError]]
#: Unique constraints whose violation is a client error, by name: no check-then-insert race.
_CONSTRAINT_ERRORS: ConstraintErrors = MappingProxyType({UQ_USERS_EMAIL: EmailAlreadyRegistered})

#: What one context does in the same transaction when another's aggregate records an event
#: (a member leaves an organization: their tasks are unassigned), as SQL on the session.
#: It returns the events of its own changes, which are written to the outbox with the rest.
Reaction = Callable[[AsyncSession, Any], Awaitable[Sequence[DomainEvent]]]
Reactions = Mapping[type[DomainEvent], Sequence[Reaction]]

_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, OSError, TimeoutError)

#: SQLSTATEs (prefixes) of a server that cannot serve right now, whatever was asked: the
#: connection failed (class 08), the server is shutting down, crashed or still starting up
#: (57P01-57P03: a restart answers these for a moment before it takes connections), or it
#: has no connection slot left (53300). Drivers raise some of them before SQLAlchemy wraps
#: anything (asyncpg while connecting), so they are recognised by code, not by type.
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


class CacheInvalidator(Protocol):
    async def invalidate(self, user_ids: Collection[UUID]) -> None: ...


class SqlAlchemyUnitOfWork:
    """The accounts' repositories in one transaction; a context with repositories of its own
    subclasses it (``organizations.uow``), adding them and the constraints they name."""

    #: A subclass adds its own: ``{**SqlAlchemyUnitOfWork.constraint_errors, NAME: Error}``.
    constraint_errors: ClassVar[ConstraintErrors] = _CONSTRAINT_ERRORS

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        caches: CacheInvalidator,
        outbox: OutboxWakeup,
        reactions: Reactions = MappingProxyType({}),
        tracing: EventTracing | None = None,
    ) -> None:
        """``tracing`` (None: off) gives the trace context the outbox rows written here keep."""
        self._session_factory = session_factory
        self._tracing = tracing
        self._caches = caches
        self._outbox = outbox
        self._reactions = reactions
        # What the transaction implies beyond its SQL: events to write to the outbox with
        # it, and users whose cached authentication to retire once it has committed.
        self._changes = PendingChanges()
        #: The organization the unit of work is confined to (``scope_to``), for tenant-scoped repositories.
        self.tenant = TenantScope()

    async def __aenter__(self) -> Self:
        self._session = self._session_factory()
        return self

    # Built on first use: most units of work touch one repository, and building an
    # advanced-alchemy repository is not free on the authenticated hot path.
    @cached_property
    def users(self) -> SqlUserRepository:
        return SqlUserRepository(self._session, self._changes)

    @cached_property
    def sessions(self) -> SqlSessionRepository:
        return SqlSessionRepository(self._session, self._changes)

    @cached_property
    def refresh_tokens(self) -> SqlRefreshTokenRepository:
        return SqlRefreshTokenRepository(self._session)

    @cached_property
    def api_keys(self) -> SqlApiKeyRepository:
        return SqlApiKeyRepository(self._session, self._changes)

    @cached_property
    def account_tokens(self) -> SqlAccountTokenRepository:
        return SqlAccountTokenRepository(self._session)

    @cached_property
    def inbox(self) -> SqlInbox:
        return SqlInbox(self._session)

    @cached_property
    def sent_emails(self) -> SqlSentEmails:
        return SqlSentEmails(self._session)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._session.close()  # rolls back whatever was not committed
        except Exception as close_error:
            if exc is None:
                raise translate_storage_error(close_error) from close_error
        if isinstance(exc, Exception):
            translated = translate_storage_error(exc, self.constraint_errors)
            if translated is not exc:
                raise translated from exc

    async def scope_to(self, organization_id: UUID) -> None:
        await self._session.run_sync(self.tenant.enter, organization_id)

    async def commit(self) -> None:
        events, touched = self._changes.events, self._changes.touched_users
        # One level deep: what a reaction changes is published, but sets off no reaction itself.
        caused = [
            consequence
            for event in events
            for reaction in self._reactions.get(type(event), ())
            for consequence in await reaction(self._session, event)
        ]
        events = [*events, *caused]
        if events:
            trace_context = self._tracing.current() if self._tracing is not None else None
            await write_events(self._session, events, trace_context)
        await self._session.commit()
        self._changes = PendingChanges()
        if events:
            self._outbox.wake()
        if touched:
            await self._caches.invalidate(touched)


def translate_storage_error(error: Exception, constraint_errors: ConstraintErrors = _CONSTRAINT_ERRORS) -> Exception:
    """Map a storage failure to what the application understands, or return it unchanged.

    advanced-alchemy wraps driver errors in its own types, so the whole cause chain is
    searched for the original. An error that already is the application's (an adapter
    other than the database failed inside the transaction, say the mail server) stays
    as it is: whatever OSError lies beneath it is not the database's.
    """
    if isinstance(error, DomainError | DependencyUnavailable):
        return error
    for cause in _causes(error):
        if isinstance(cause, sa_exc.IntegrityError):
            message = str(cause.orig)
            for constraint, domain_error in constraint_errors.items():
                if constraint in message:
                    return domain_error()
            return error
        if (
            isinstance(cause, _UNAVAILABLE)
            or (isinstance(cause, sa_exc.DBAPIError) and cause.connection_invalidated)
            or str(getattr(cause, "sqlstate", None) or "").startswith(_UNAVAILABLE_SQLSTATES)
        ):
            return DependencyUnavailable("database")
    return error


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
