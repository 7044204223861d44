"""The users' repository on advanced-alchemy, and what a unit of work owes after its SQL.

Repositories convert between a domain entity and its table model at the boundary
(``mapping``); the use cases never see SQLAlchemy. Statements that must be atomic or
set-based are single SQL statements, not read-modify-write loops. The auth context's
repositories are in ``auth_repositories``, the once-only claims in ``claims``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import false, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.events import Aggregate, DomainEvent
from app.domain.users.model import User
from app.domain.users.values import Role
from app.infrastructure.db.mapping import USER_COLUMNS, to_row, user_from_model
from app.infrastructure.db.models import UserModel

#: The transaction-level advisory lock that serializes the checks for a remaining admin ("admins").
ADMIN_CHECK_LOCK = int.from_bytes(b"admins")


class _UserModels(SQLAlchemyAsyncRepository[UserModel]):
    model_type = UserModel


@dataclass(slots=True)
class PendingChanges:
    """What a unit of work must do beyond its SQL: retire cached users, publish events.

    ``events`` is whatever the aggregates its repositories saved had recorded, of any kind.
    """

    touched_users: set[UUID] = field(default_factory=set)
    events: list[DomainEvent] = field(default_factory=list)

    def collect(self, aggregates: Iterable[Aggregate]) -> None:
        """Take the events of aggregates being saved: any repository's, whatever the aggregate."""
        for aggregate in aggregates:
            self.events.extend(aggregate.pull_events())

    def record(self, users: Iterable[User]) -> None:
        """Users being saved: their events, and their cached authentication to retire."""
        self.touched_users.update(user.id for user in users)
        self.collect(users)


class SqlUserRepository:
    def __init__(self, session: AsyncSession, changes: PendingChanges) -> None:
        self._db = session
        self._models = _UserModels(session=session, auto_commit=False)
        self._changes = changes

    async def get(self, user_id: UUID, *, include_deleted: bool = False, for_update: bool = False) -> User | None:
        conditions = [UserModel.id == user_id]
        if not include_deleted:
            conditions.append(UserModel.deleted_at.is_(None))
        # SQLite has no row locks (and needs none: it runs one writer at a time); it omits FOR UPDATE.
        model = await self._models.get_one_or_none(*conditions, with_for_update=for_update or None)
        return user_from_model(model) if model else None

    async def get_many(self, user_ids: Collection[UUID], *, for_update: bool = False) -> list[User]:
        # Locked in id order: two bulk updates sharing users then wait for each other, never deadlock.
        statement = select(UserModel).order_by(UserModel.id)
        models = await self._models.get_many(
            UserModel.id.in_(user_ids),
            UserModel.deleted_at.is_(None),
            statement=statement.with_for_update() if for_update else statement,
        )
        return [user_from_model(model) for model in models]

    async def another_active_admin(self, excluding: Collection[UUID]) -> bool:
        # A lock held until the transaction ends. SQLite has no advisory locks, but one write lock
        # for the whole database: a write that changes nothing takes it.
        if self._db.get_bind().dialect.name == "postgresql":
            await self._db.execute(select(func.pg_advisory_xact_lock(ADMIN_CHECK_LOCK)))
        else:
            await self._db.execute(update(UserModel).where(false()).values(role=UserModel.role))
        # A statement of its own after the lock: it sees what the last holder committed.
        admins = select(UserModel.id).where(
            UserModel.role == Role.ADMIN.value,
            UserModel.is_active.is_(True),
            UserModel.deleted_at.is_(None),
            UserModel.id.not_in(excluding),
        )
        return bool(await self._db.scalar(select(admins.exists())))

    async def taken_emails(self, emails: Collection[str]) -> set[str]:
        lowered = func.lower(UserModel.email)
        result = await self._db.execute(select(lowered).where(lowered.in_([email.lower() for email in emails])))
        return set(result.scalars())

    async def get_by_email(self, email: str) -> User | None:
        # lower(email) matches the unique functional index, so this is an index lookup.
        model = await self._models.get_one_or_none(
            func.lower(UserModel.email) == email.lower(), UserModel.deleted_at.is_(None)
        )
        return user_from_model(model) if model else None

    async def add(self, user: User) -> None:
        await self._models.add(UserModel(**to_row(user, USER_COLUMNS)), auto_refresh=False)
        self._changes.record([user])

    async def add_many(self, users: Sequence[User]) -> None:
        # One INSERT with many VALUES rows (SQLAlchemy's insertmanyvalues), not a loop.
        await self._db.execute(insert(UserModel), [to_row(user, USER_COLUMNS) for user in users])
        self._changes.record(users)

    async def save(self, user: User) -> None:
        await self._models.update(UserModel(**to_row(user, USER_COLUMNS)), auto_refresh=False)
        self._changes.record([user])

    async def save_many(self, users: Sequence[User]) -> None:
        # ORM bulk UPDATE by primary key: executemany of one statement, not a round trip per row.
        await self._db.execute(update(UserModel), [to_row(user, USER_COLUMNS) for user in users])
        self._changes.record(users)
