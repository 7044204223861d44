"""The tenancy's listings: the generic engine over a user's organizations and an organization's members."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Row, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.application.listing import CursorCodec, ListQuery, Page
from app.application.organizations.dto import MemberRead, OrganizationRead
from app.application.organizations.listing import MEMBER_LISTING, ORGANIZATION_LISTING
from app.infrastructure.db.listing import SqlListing
from app.infrastructure.db.mapping import from_rows
from app.infrastructure.db.models import UserModel
from app.infrastructure.db.organizations.models import MembershipModel, OrganizationModel

_organizations = OrganizationModel.__table__.c
_memberships = MembershipModel.__table__.c
_users = UserModel.__table__.c

_USER = "user_id"
_ORGANIZATION = "organization_id"

#: A user's live organizations with the user's role in each (``user_id`` bound per page).
_MY_ORGANIZATIONS = (
    select(
        _organizations.id,
        _organizations.name,
        _organizations.slug,
        _memberships.role,
        _organizations.created_at,
        _organizations.updated_at,
    )
    .join_from(
        OrganizationModel.__table__, MembershipModel.__table__, _memberships.organization_id == _organizations.id
    )
    .where(_memberships.user_id == bindparam(_USER), _organizations.deleted_at.is_(None))
)

#: An organization's members whose accounts exist (a soft-deleted user is hidden, as from every
#: list), the organization bound per page.
_MEMBERS = (
    select(
        _memberships.user_id,
        _users.email,
        _users.first_name,
        _users.last_name,
        _memberships.role,
        _memberships.joined_at,
    )
    .join_from(MembershipModel.__table__, UserModel.__table__, _users.id == _memberships.user_id)
    .where(_memberships.organization_id == bindparam(_ORGANIZATION), _users.deleted_at.is_(None))
)


def _page(page: Page[Row[Any]], items: list[Any]) -> Page[Any]:
    return Page(items=items, total=page.total, limit=page.limit, offset=page.offset, next_cursor=page.next_cursor)


class SqlOrganizationListing:
    def __init__(self, engine: AsyncEngine, cursors: CursorCodec) -> None:
        self.rows = SqlListing(ORGANIZATION_LISTING, OrganizationModel, engine, cursors)

    async def page(self, user_id: UUID, query: ListQuery) -> Page[OrganizationRead]:
        page = await self.rows.page(_MY_ORGANIZATIONS, query, parameters={_USER: user_id})
        return _page(page, from_rows(page.items, OrganizationRead))


class SqlMemberListing:
    def __init__(self, engine: AsyncEngine, cursors: CursorCodec) -> None:
        self.rows = SqlListing(
            MEMBER_LISTING,
            MembershipModel,
            engine,
            cursors,
            joined={"email": _users.email},
            tiebreak=_memberships.user_id,
        )

    async def page(self, organization_id: UUID, query: ListQuery) -> Page[MemberRead]:
        page = await self.rows.page(_MEMBERS, query, parameters={_ORGANIZATION: organization_id})
        return _page(page, from_rows(page.items, MemberRead))
