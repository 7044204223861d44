"""The users' repository on advanced-alchemy, and what a unit of work owes after its SQL.

Repositories convert between a domain entity and its table model at the boundary
(``mapping``); the use cases never see SQLAlchemy. Statements that must be atomic or
set-based are single SQL statements, not read-modify-write loops. The auth context's
repositories are in ``auth_repositories``, the once-only claims in ``claims``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import String, column, false, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.events import Aggregate, DomainEvent
from app.domain.users.events import UserEvent
from app.domain.users.model import User
from app.domain.users.values import Role
from app.infrastructure.db.mapping import USER_COLUMNS, to_row, user_from_model
from app.infrastructure.db.models import UserModel

#: The transaction-level advisory lock that serializes the checks for a remaining admin ("admins").
ADMIN_CHECK_LOCK = int.from_bytes(b"admins")

#: ``meta || patch`` for many users at once: the patches travel as one JSON object keyed by
#: user id (text cast to ``jsonb``, so no driver codec is involved); users whose ``meta`` it
#: would not change are left alone. PostgreSQL only, like the consumer's batches that use it.
_MERGE_META = text(
    """
    UPDATE users AS u SET meta = u.meta || p.patch, updated_at = :now
    FROM jsonb_each(CAST(CAST(:patches AS text) AS jsonb)) AS p(id, patch)
    WHERE u.id = CAST(p.id AS uuid) AND u.deleted_at IS NULL AND u.meta || p.patch <> u.meta
    RETURNING u.id, CAST(u.meta AS text) AS meta
    """
).columns(UserModel.id, column("meta", String))


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

    async def lock(self, user_ids: Collection[UUID]) -> set[UUID]:
        statement = (
            select(UserModel.id)
            .where(UserModel.id.in_(user_ids), UserModel.deleted_at.is_(None))
            .order_by(UserModel.id)
            .with_for_update()
        )
        return set((await self._db.scalars(statement)).all())

    async def merge_meta(self, patches: Mapping[UUID, dict[str, Any]], now: datetime) -> dict[UUID, dict[str, Any]]:
        if self._db.get_bind().dialect.name != "postgresql":
            return await self._merge_meta_each(patches, now)
        document = msgspec.json.encode({str(user_id): patch for user_id, patch in patches.items()}).decode()
        rows = await self._db.execute(_MERGE_META, {"patches": document, "now": now})
        return {user_id: msgspec.json.decode(meta) for user_id, meta in rows.tuples()}

    async def _merge_meta_each(
        self, patches: Mapping[UUID, dict[str, Any]], now: datetime
    ) -> dict[UUID, dict[str, Any]]:
        """SQLite (one writer at a time, embedded use) has no ``jsonb ||``: read, merge, write back."""
        merged: dict[UUID, dict[str, Any]] = {}
        rows = await self._db.execute(select(UserModel.id, UserModel.meta).where(UserModel.id.in_(patches)))
        for user_id, meta in rows.tuples():
            if (new := {**meta, **patches[user_id]}) != meta:
                await self._db.execute(
                    update(UserModel).where(UserModel.id == user_id).values(meta=new, updated_at=now)
                )
                merged[user_id] = new
        return merged

    async def deactivate_many(self, user_ids: Collection[UUID], now: datetime) -> dict[UUID, bool]:
        statement = (
            update(UserModel)
            .where(UserModel.id.in_(user_ids), UserModel.is_active.is_(True), UserModel.deleted_at.is_(None))
            .values(is_active=False, updated_at=now)
            .returning(UserModel.id, UserModel.role)
        )
        rows = await self._db.execute(statement, execution_options={"synchronize_session": False})
        return {user_id: role == Role.ADMIN.value for user_id, role in rows.tuples()}

    def record(self, events: Iterable[UserEvent]) -> None:
        for event in events:
            self._changes.events.append(event)
            self._changes.touched_users.add(event.user_id)
