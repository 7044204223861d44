"""The tenancy's repositories."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.organizations.membership import Membership
from app.domain.organizations.values import OrgRole
from app.infrastructure.db.organizations.models import MembershipModel, OrganizationModel

_MEMBERSHIP = (
    select(MembershipModel.organization_id, MembershipModel.user_id, MembershipModel.role, MembershipModel.joined_at)
    .join(OrganizationModel, OrganizationModel.id == MembershipModel.organization_id)
    .where(OrganizationModel.deleted_at.is_(None))
)


class SqlMembershipRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._db = session

    async def get(self, organization_id: UUID, user_id: UUID) -> Membership | None:
        statement = _MEMBERSHIP.where(
            MembershipModel.organization_id == organization_id, MembershipModel.user_id == user_id
        )
        row = (await self._db.execute(statement)).one_or_none()
        if row is None:
            return None
        return Membership(
            organization_id=row.organization_id, user_id=row.user_id, role=OrgRole(row.role), joined_at=row.joined_at
        )
