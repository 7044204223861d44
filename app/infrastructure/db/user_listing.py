"""The users listing: the generic engine over the users table, serving domain users."""

from __future__ import annotations

from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.application.listing import CursorCodec, ListQuery, Page
from app.application.users.listing import USER_LISTING
from app.domain.users.model import User
from app.infrastructure.db.listing import SqlListing
from app.infrastructure.db.mapping import user_from_model
from app.infrastructure.db.models import UserModel


class UserRows(SQLAlchemyAsyncRepository[UserModel]):
    """Read-only rows for the listing; storage errors reach the caller untranslated, as everywhere else."""

    model_type = UserModel


class SqlUserListing:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], cursors: CursorCodec) -> None:
        self.rows = SqlListing[UserModel](USER_LISTING, UserRows, session_factory, cursors)

    async def page(self, query: ListQuery) -> Page[User]:
        base = select(UserModel)
        if not query.include_deleted:
            base = base.where(UserModel.deleted_at.is_(None))
        page = await self.rows.page(base, query)
        return Page(
            items=[user_from_model(model) for model in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
            next_cursor=page.next_cursor,
        )
