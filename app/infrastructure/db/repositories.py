"""Domain repository ports implemented with advanced-alchemy repositories.

Each adapter converts between a domain entity and its table model at the boundary; the
use cases never see SQLAlchemy. Statements that must be atomic or set-based (spending a
refresh token, revoking every session of a user) are single SQL statements, not
read-modify-write loops.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import delete, false, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.auth.model import ApiKey, RefreshToken, Session
from app.domain.users.events import UserEvent
from app.domain.users.model import User
from app.domain.users.values import Role
from app.infrastructure.db.mapping import (
    API_KEY_COLUMNS,
    REFRESH_TOKEN_COLUMNS,
    SESSION_COLUMNS,
    USER_COLUMNS,
    from_row,
    to_row,
    user_from_model,
)
from app.infrastructure.db.models import (
    ApiKeyModel,
    InboxModel,
    RefreshTokenModel,
    SentEmailModel,
    SessionModel,
    UserModel,
)

#: The transaction-level advisory lock that serializes the checks for a remaining admin ("admins").
ADMIN_CHECK_LOCK = int.from_bytes(b"admins")


class _UserModels(SQLAlchemyAsyncRepository[UserModel]):
    model_type = UserModel


class _SessionModels(SQLAlchemyAsyncRepository[SessionModel]):
    model_type = SessionModel


class _RefreshTokenModels(SQLAlchemyAsyncRepository[RefreshTokenModel]):
    model_type = RefreshTokenModel


class _ApiKeyModels(SQLAlchemyAsyncRepository[ApiKeyModel]):
    model_type = ApiKeyModel


@dataclass(slots=True)
class PendingChanges:
    """What a unit of work must do beyond its SQL: retire cached users, publish events."""

    touched_users: set[UUID] = field(default_factory=set)
    events: list[UserEvent] = field(default_factory=list)

    def record(self, users: Iterable[User]) -> None:
        for user in users:
            self.touched_users.add(user.id)
            self.events.extend(user.pull_events())


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


class SqlSessionRepository:
    def __init__(self, session: AsyncSession, changes: PendingChanges) -> None:
        self._db = session
        self._models = _SessionModels(session=session, auto_commit=False)
        self._touched = changes.touched_users

    async def get(self, session_id: UUID) -> Session | None:
        model = await self._models.get_one_or_none(SessionModel.id == session_id)
        return from_row(model, Session) if model else None

    async def get_with_user(self, session_id: UUID) -> tuple[Session, User] | None:
        statement = (
            select(SessionModel, UserModel)
            .join(UserModel, UserModel.id == SessionModel.user_id)
            .where(SessionModel.id == session_id, UserModel.deleted_at.is_(None))
        )
        row = (await self._db.execute(statement)).one_or_none()
        if row is None:
            return None
        session_model, user_model = row
        return from_row(session_model, Session), user_from_model(user_model)

    async def add(self, session: Session) -> None:
        await self._models.add(SessionModel(**to_row(session, SESSION_COLUMNS)), auto_refresh=False)

    async def save(self, session: Session) -> None:
        await self._models.update(SessionModel(**to_row(session, SESSION_COLUMNS)), auto_refresh=False)
        self._touched.add(session.user_id)

    async def list_active(self, user_id: UUID, now: datetime) -> list[Session]:
        models = await self._models.get_many(
            SessionModel.user_id == user_id,
            SessionModel.revoked_at.is_(None),
            SessionModel.expires_at > now,
            order_by=[SessionModel.created_at.desc()],
        )
        return [from_row(model, Session) for model in models]

    async def revoke_all(self, user_ids: Collection[UUID], now: datetime, *, keep: UUID | None = None) -> None:
        statement = (
            update(SessionModel)
            .where(SessionModel.user_id.in_(user_ids), SessionModel.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        if keep is not None:
            statement = statement.where(SessionModel.id != keep)
        await self._db.execute(statement)
        self._touched.update(user_ids)

    async def delete_ended(self, before: datetime, limit: int) -> int:
        ended = (
            select(SessionModel.id)
            .where(or_(SessionModel.expires_at < before, SessionModel.revoked_at < before))
            .limit(limit)
        )
        ids = list((await self._db.execute(ended)).scalars())
        if not ids:
            return 0
        # Tokens first, explicitly: SQLite enforces the foreign key's cascade only when told to.
        await self._db.execute(delete(RefreshTokenModel).where(RefreshTokenModel.session_id.in_(ids)))
        await self._db.execute(delete(SessionModel).where(SessionModel.id.in_(ids)))
        return len(ids)


class SqlRefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._db = session
        self._models = _RefreshTokenModels(session=session, auto_commit=False)

    async def add(self, token: RefreshToken) -> None:
        await self._models.add(RefreshTokenModel(**to_row(token, REFRESH_TOKEN_COLUMNS)), auto_refresh=False)

    async def spend(self, token_hash: str, now: datetime) -> RefreshToken | None:
        # The conditional UPDATE is the atomic step: of two concurrent refreshes with one
        # token, exactly one matches "spent_at IS NULL"; the other sees a spent token.
        spent = await self._db.execute(
            update(RefreshTokenModel)
            .where(RefreshTokenModel.token_hash == token_hash, RefreshTokenModel.spent_at.is_(None))
            .values(spent_at=now)
            .returning(RefreshTokenModel.session_id)
        )
        session_id = spent.scalar_one_or_none()
        if session_id is not None:
            return RefreshToken(token_hash=token_hash, session_id=session_id)
        earlier = await self._db.execute(
            select(RefreshTokenModel.session_id, RefreshTokenModel.spent_at).where(
                RefreshTokenModel.token_hash == token_hash
            )
        )
        row = earlier.one_or_none()
        return RefreshToken(token_hash=token_hash, session_id=row.session_id, spent_at=row.spent_at) if row else None


class SqlApiKeyRepository:
    def __init__(self, session: AsyncSession, changes: PendingChanges) -> None:
        self._db = session
        self._models = _ApiKeyModels(session=session, auto_commit=False)
        self._touched = changes.touched_users

    async def add(self, key: ApiKey) -> None:
        await self._models.add(ApiKeyModel(**to_row(key, API_KEY_COLUMNS)), auto_refresh=False)

    async def get(self, key_id: UUID) -> ApiKey | None:
        model = await self._models.get_one_or_none(ApiKeyModel.id == key_id)
        return from_row(model, ApiKey) if model else None

    async def save(self, key: ApiKey) -> None:
        await self._models.update(ApiKeyModel(**to_row(key, API_KEY_COLUMNS)), auto_refresh=False)
        self._touched.add(key.user_id)  # A revoked key must leave the authentication cache at once.

    async def list_unrevoked(self, user_id: UUID) -> list[ApiKey]:
        models = await self._models.get_many(
            ApiKeyModel.user_id == user_id,
            ApiKeyModel.revoked_at.is_(None),
            order_by=[ApiKeyModel.created_at.desc()],
        )
        return [from_row(model, ApiKey) for model in models]

    async def get_with_user(self, prefix: str) -> tuple[ApiKey, User] | None:
        statement = (
            select(ApiKeyModel, UserModel)
            .join(UserModel, UserModel.id == ApiKeyModel.user_id)
            .where(ApiKeyModel.prefix == prefix, UserModel.deleted_at.is_(None))
        )
        row = (await self._db.execute(statement)).one_or_none()
        if row is None:
            return None
        key_model, user_model = row
        return from_row(key_model, ApiKey), user_from_model(user_model)

    async def touch(self, key_id: UUID, now: datetime, *, unless_since: datetime) -> None:
        await self._db.execute(
            update(ApiKeyModel)
            .where(
                ApiKeyModel.id == key_id,
                or_(ApiKeyModel.last_used_at.is_(None), ApiKeyModel.last_used_at < unless_since),
            )
            .values(last_used_at=now)
        )


def _dialect_insert(session: AsyncSession) -> Any:
    """The dialect's own INSERT, for ``ON CONFLICT DO NOTHING`` (PostgreSQL and SQLite both have it)."""
    return postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


class SqlInbox:
    def __init__(self, session: AsyncSession) -> None:
        self._db = session

    async def claim(self, message_id: UUID, message_type: str, now: datetime) -> bool:
        # INSERT ... ON CONFLICT DO NOTHING: a concurrent claim of the same id waits for the
        # first to commit and then inserts nothing, so exactly one of them applies it.
        statement = (
            _dialect_insert(self._db)(InboxModel)
            .values(id=message_id, type=message_type, processed_at=now)
            .on_conflict_do_nothing(index_elements=[InboxModel.id])
            .returning(InboxModel.id)
        )
        return (await self._db.execute(statement)).scalar_one_or_none() is not None


class SqlSentEmails:
    def __init__(self, session: AsyncSession) -> None:
        self._db = session

    async def claim(self, user_id: UUID, kind: str, now: datetime) -> bool:
        # As for the inbox: a second claim of the same (user, kind) waits on the first one's
        # uncommitted row, then inserts nothing (it committed) or takes its place (it rolled back).
        statement = (
            _dialect_insert(self._db)(SentEmailModel)
            .values(user_id=user_id, kind=kind, sent_at=now)
            .on_conflict_do_nothing(index_elements=[SentEmailModel.user_id, SentEmailModel.kind])
            .returning(SentEmailModel.user_id)
        )
        return (await self._db.execute(statement)).scalar_one_or_none() is not None

    async def owed(
        self, kind: str, *, registered_from: datetime, registered_before: datetime, limit: int
    ) -> list[UUID]:
        # A range of ix_users_created_at_id, each row checked against the claim's primary key.
        claimed = select(SentEmailModel.user_id).where(
            SentEmailModel.user_id == UserModel.id, SentEmailModel.kind == kind
        )
        statement = (
            select(UserModel.id)
            .where(
                UserModel.created_at >= registered_from,
                UserModel.created_at < registered_before,
                UserModel.is_active.is_(True),
                UserModel.deleted_at.is_(None),
                ~claimed.exists(),
            )
            .order_by(UserModel.created_at, UserModel.id)
            .limit(limit)
        )
        return list((await self._db.scalars(statement)).all())
