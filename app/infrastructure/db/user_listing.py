"""The users listing: the generic engine over the users table's columns, serving the users as read.

A page goes from rows straight to :class:`UserRead`, the listing's response: the columns
selected are its fields and no more (no password hash read and dropped), and one msgspec
conversion makes the page, with no domain user built on the way to be copied again.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.application.listing import CursorCodec, ListQuery, Page
from app.application.users.dto import UserRead
from app.application.users.listing import USER_LISTING
from app.infrastructure.db.listing import SqlListing
from app.infrastructure.db.mapping import from_rows, row_columns
from app.infrastructure.db.models import UserModel

#: The columns a user is read from, as Core columns: rows, not ORM entities, come back.
_USER_ROW = select(*row_columns(UserModel, UserRead.__struct_fields__))
_LIVE_USER_ROW = _USER_ROW.where(UserModel.__table__.c.deleted_at.is_(None))


class SqlUserListing:
    def __init__(self, engine: AsyncEngine, cursors: CursorCodec) -> None:
        self.rows = SqlListing(USER_LISTING, UserModel, engine, cursors)

    async def page(self, query: ListQuery) -> Page[UserRead]:
        page = await self.rows.page(_USER_ROW if query.include_deleted else _LIVE_USER_ROW, query)
        return Page(
            items=from_rows(page.items, UserRead),
            total=page.total,
            limit=page.limit,
            offset=page.offset,
            next_cursor=page.next_cursor,
        )
