"""The SQLAlchemy unit of work, and the one place storage errors become application errors."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from functools import cached_property
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.application.ports import DependencyUnavailable
from app.domain.errors import DomainError, EmailAlreadyRegistered
from app.infrastructure.db.models import UQ_USERS_EMAIL
from app.infrastructure.db.repositories import (
    SqlApiKeyRepository,
    SqlRefreshTokenRepository,
    SqlSessionRepository,
    SqlUserRepository,
)

#: Unique constraints whose violation is a client error, by name: no check-then-insert race.
_CONSTRAINT_ERRORS: dict[str, Callable[[], DomainError]] = {UQ_USERS_EMAIL: EmailAlreadyRegistered}

_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, OSError, TimeoutError)


class CacheInvalidator(Protocol):
    async def invalidate(self, user_ids: Collection[UUID]) -> None: ...


class SqlAlchemyUnitOfWork:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], caches: CacheInvalidator) -> None:
        self._session_factory = session_factory
        self._caches = caches
        # Users whose row or sessions this unit of work changed: their cached
        # authentication is retired once the change is committed, not before.
        self._touched: set[UUID] = set()

    async def __aenter__(self) -> Self:
        self._session = self._session_factory()
        return self

    # Built on first use: most units of work touch one repository, and building an
    # advanced-alchemy repository is not free on the authenticated hot path.
    @cached_property
    def users(self) -> SqlUserRepository:
        return SqlUserRepository(self._session, self._touched)

    @cached_property
    def sessions(self) -> SqlSessionRepository:
        return SqlSessionRepository(self._session, self._touched)

    @cached_property
    def refresh_tokens(self) -> SqlRefreshTokenRepository:
        return SqlRefreshTokenRepository(self._session)

    @cached_property
    def api_keys(self) -> SqlApiKeyRepository:
        return SqlApiKeyRepository(self._session)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._session.close()  # rolls back whatever was not committed
        except Exception as close_error:
            if exc is None:
                raise translate_storage_error(close_error) from close_error
        if isinstance(exc, Exception):
            translated = translate_storage_error(exc)
            if translated is not exc:
                raise translated from exc

    async def commit(self) -> None:
        await self._session.commit()
        if self._touched:
            await self._caches.invalidate(self._touched)
            self._touched.clear()


def translate_storage_error(error: Exception) -> Exception:
    """Map a storage failure to what the application understands, or return it unchanged.

    advanced-alchemy wraps driver errors in its own types, so the whole cause chain is
    searched for the original.
    """
    for cause in _causes(error):
        if isinstance(cause, sa_exc.IntegrityError):
            message = str(cause.orig)
            for constraint, domain_error in _CONSTRAINT_ERRORS.items():
                if constraint in message:
                    return domain_error()
            return error
        if isinstance(cause, _UNAVAILABLE) or (isinstance(cause, sa_exc.DBAPIError) and cause.connection_invalidated):
            return DependencyUnavailable("database")
    return error


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
