"""The users listing: the generic engine over the users table's columns, serving domain users."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.application.listing import CursorCodec, ListQuery, Page
from app.application.users.listing import USER_LISTING
from app.domain.users.model import User
from app.infrastructure.db.listing import SqlListing
from app.infrastructure.db.mapping import USER_COLUMNS, from_rows, row_columns
from app.infrastructure.db.models import UserModel

#: The columns a user is read from, as Core columns: rows, not ORM entities, come back.
_USER_ROW = select(*row_columns(UserModel, USER_COLUMNS))
_LIVE_USER_ROW = _USER_ROW.where(UserModel.__table__.c.deleted_at.is_(None))


class SqlUserListing:
    def __init__(self, engine: AsyncEngine, cursors: CursorCodec) -> None:
        self.rows = SqlListing(USER_LISTING, UserModel, engine, cursors)

    async def page(self, query: ListQuery) -> Page[User]:
        page = await self.rows.page(_USER_ROW if query.include_deleted else _LIVE_USER_ROW, query)
        return Page(
            items=from_rows(page.items, User),
            total=page.total,
            limit=page.limit,
            offset=page.offset,
            next_cursor=page.next_cursor,
        )
