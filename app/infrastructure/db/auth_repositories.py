"""The auth context's repositories: sessions, refresh tokens and API keys.

Changing a session or a key marks its user as touched, so the unit of work retires the
user's cached authentications when it commits.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import Column, Select, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from app.domain.auth.model import ApiKey, RefreshToken, Session
from app.domain.users.model import User
from app.infrastructure.db.mapping import (
    API_KEY_COLUMNS,
    REFRESH_TOKEN_COLUMNS,
    SESSION_COLUMNS,
    USER_COLUMNS,
    from_columns,
    from_row,
    row_columns,
    to_row,
)
from app.infrastructure.db.models import ApiKeyModel, RefreshTokenModel, SessionModel, UserModel
from app.infrastructure.db.repositories import PendingChanges

#: An authentication's lookup reads Core rows of these columns, not ORM entities, with
#: statements built once (only the bound value changes): it runs on every request that
#: misses the authentication cache.
_SESSION_ROW = row_columns(SessionModel, SESSION_COLUMNS)
_API_KEY_ROW = row_columns(ApiKeyModel, API_KEY_COLUMNS)
_USER_ROW = row_columns(UserModel, USER_COLUMNS)


def _with_user(entity_row: tuple[Column[Any], ...], model: type[DeclarativeBase], key: str) -> Select[Any]:
    """``model``'s row whose ``key`` is the bound parameter of that name, with its live user's row."""
    table, users = model.__table__, UserModel.__table__
    return (
        select(*entity_row, *_USER_ROW)
        .select_from(table)
        .join(users, users.c.id == table.c.user_id)
        .where(table.c[key] == bindparam(key), users.c.deleted_at.is_(None))
    )


_SESSION_WITH_USER = _with_user(_SESSION_ROW, SessionModel, "id")
_API_KEY_WITH_USER = _with_user(_API_KEY_ROW, ApiKeyModel, "prefix")


class _SessionModels(SQLAlchemyAsyncRepository[SessionModel]):
    model_type = SessionModel


class _RefreshTokenModels(SQLAlchemyAsyncRepository[RefreshTokenModel]):
    model_type = RefreshTokenModel


class _ApiKeyModels(SQLAlchemyAsyncRepository[ApiKeyModel]):
    model_type = ApiKeyModel


class SqlSessionRepository:
    def __init__(self, session: AsyncSession, changes: PendingChanges) -> None:
        self._db = session
        self._models = _SessionModels(session=session, auto_commit=False)
        self._touched = changes.touched_users

    async def get(self, session_id: UUID) -> Session | None:
        model = await self._models.get_one_or_none(SessionModel.id == session_id)
        return from_row(model, Session) if model else None

    async def get_with_user(self, session_id: UUID) -> tuple[Session, User] | None:
        row = (await self._db.execute(_SESSION_WITH_USER, {"id": session_id})).one_or_none()
        if row is None:
            return None
        return from_columns(row, _SESSION_ROW, Session), from_columns(row, _USER_ROW, User)

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
        row = (await self._db.execute(_API_KEY_WITH_USER, {"prefix": prefix})).one_or_none()
        if row is None:
            return None
        return from_columns(row, _API_KEY_ROW, ApiKey), from_columns(row, _USER_ROW, User)

    async def touch(self, key_id: UUID, now: datetime, *, unless_since: datetime) -> None:
        await self._db.execute(
            update(ApiKeyModel)
            .where(
                ApiKeyModel.id == key_id,
                or_(ApiKeyModel.last_used_at.is_(None), ApiKeyModel.last_used_at < unless_since),
            )
            .values(last_used_at=now)
        )
