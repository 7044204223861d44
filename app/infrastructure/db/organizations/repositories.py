"""The tenancy's repositories: organizations, memberships and invitations.

They read across organizations (a user's memberships, an invitation by its token), so
they are not tenant-scoped: the use cases guard them (``app.application.organizations``).
Writes are single statements; the organization's row lock (``get(for_update=True)``) is
what serializes changes to its memberships.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, delete, false, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.organizations.membership import Membership
from app.domain.organizations.model import Invitation, Organization
from app.domain.organizations.values import OrgRole
from app.infrastructure.db.mapping import from_row, from_rows, row_columns, stored_fields, to_row
from app.infrastructure.db.models import UserModel
from app.infrastructure.db.organizations.models import InvitationModel, MembershipModel, OrganizationModel
from app.infrastructure.db.repositories import PendingChanges

ORGANIZATION_COLUMNS = stored_fields(Organization, OrganizationModel)
MEMBERSHIP_COLUMNS = stored_fields(Membership, MembershipModel)
INVITATION_COLUMNS = stored_fields(Invitation, InvitationModel)

_organizations = OrganizationModel.__table__
_LIVE_ORGANIZATION = select(*row_columns(OrganizationModel, ORGANIZATION_COLUMNS)).where(
    _organizations.c.deleted_at.is_(None)
)
_MEMBERSHIP = (
    select(*row_columns(MembershipModel, MEMBERSHIP_COLUMNS))
    .join(OrganizationModel, OrganizationModel.id == MembershipModel.organization_id)
    .where(OrganizationModel.deleted_at.is_(None))
)
_INVITATION = select(*row_columns(InvitationModel, INVITATION_COLUMNS))


class SqlOrganizationRepository:
    def __init__(self, session: AsyncSession, changes: PendingChanges) -> None:
        self._db = session
        self._changes = changes

    async def get(self, organization_id: UUID, *, for_update: bool = False) -> Organization | None:
        statement = _LIVE_ORGANIZATION.where(_organizations.c.id == organization_id)
        if for_update and self._db.get_bind().dialect.name != "postgresql":
            # SQLite has no row locks (it omits FOR UPDATE), but one write lock for the whole
            # database, held to the end of the transaction: a write that changes nothing takes it.
            await self._db.execute(update(OrganizationModel).where(false()).values(name=OrganizationModel.name))
        row = (await self._db.execute(statement.with_for_update() if for_update else statement)).one_or_none()
        return from_row(row, Organization) if row is not None else None

    async def add(self, organization: Organization) -> bool:
        # ON CONFLICT on the partial unique index of live slugs: the index decides, atomically.
        dialect_insert = pg_insert if self._db.get_bind().dialect.name == "postgresql" else sqlite_insert
        statement = (
            dialect_insert(OrganizationModel)
            .values(to_row(organization, ORGANIZATION_COLUMNS))
            .on_conflict_do_nothing(index_elements=["slug"], index_where=_organizations.c.deleted_at.is_(None))
            .returning(_organizations.c.id)
        )
        inserted = (await self._db.execute(statement)).scalar_one_or_none() is not None
        if inserted:
            self.record(organization)
        return inserted

    async def save(self, organization: Organization) -> None:
        values = to_row(organization, ORGANIZATION_COLUMNS)
        await self._db.execute(
            update(OrganizationModel)
            .where(OrganizationModel.id == organization.id)
            .values(values)
            .execution_options(synchronize_session=False)
        )
        self.record(organization)

    def record(self, organization: Organization) -> None:
        self._changes.collect([organization])


class SqlMembershipRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._db = session

    async def get(self, organization_id: UUID, user_id: UUID) -> Membership | None:
        statement = _MEMBERSHIP.where(
            MembershipModel.organization_id == organization_id, MembershipModel.user_id == user_id
        )
        row = (await self._db.execute(statement)).one_or_none()
        return from_row(row, Membership) if row is not None else None

    async def add(self, membership: Membership) -> None:
        await self._db.execute(insert(MembershipModel).values(to_row(membership, MEMBERSHIP_COLUMNS)))

    async def save(self, membership: Membership) -> None:
        await self._db.execute(
            update(MembershipModel)
            .where(*_key(membership))
            .values(role=membership.role.value)
            .execution_options(synchronize_session=False)
        )

    async def remove(self, membership: Membership) -> None:
        await self._db.execute(
            delete(MembershipModel).where(*_key(membership)).execution_options(synchronize_session=False)
        )

    async def count_owners(self, organization_id: UUID) -> int:
        statement = (
            select(func.count())
            .select_from(MembershipModel)
            .join(UserModel, UserModel.id == MembershipModel.user_id)
            .where(
                MembershipModel.organization_id == organization_id,
                MembershipModel.role == OrgRole.OWNER.value,
                UserModel.deleted_at.is_(None),
            )
        )
        return int(await self._db.scalar(statement) or 0)


def _key(membership: Membership) -> tuple[ColumnElement[bool], ...]:
    return (
        MembershipModel.organization_id == membership.organization_id,
        MembershipModel.user_id == membership.user_id,
    )


class SqlInvitationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._db = session

    async def replace(self, invitation: Invitation) -> None:
        await self._db.execute(
            delete(InvitationModel)
            .where(
                InvitationModel.organization_id == invitation.organization_id,
                func.lower(InvitationModel.email) == invitation.email.lower(),
            )
            .execution_options(synchronize_session=False)
        )
        await self._db.execute(insert(InvitationModel).values(to_row(invitation, INVITATION_COLUMNS)))

    async def get(self, invitation_id: UUID, *, for_update: bool = False) -> Invitation | None:
        statement = _INVITATION.where(InvitationModel.id == invitation_id)
        return await self._one(statement.with_for_update() if for_update else statement)

    async def by_token(self, token_hash: str) -> Invitation | None:
        return await self._one(_INVITATION.where(InvitationModel.token_hash == token_hash))

    async def pending(self, organization_id: UUID, now: datetime) -> list[Invitation]:
        statement = _INVITATION.where(
            InvitationModel.organization_id == organization_id, InvitationModel.expires_at > now
        ).order_by(InvitationModel.created_at.desc(), InvitationModel.id.desc())
        return from_rows((await self._db.execute(statement)).all(), Invitation)

    async def set_token(self, invitation_id: UUID, token_hash: str) -> None:
        await self._db.execute(
            update(InvitationModel)
            .where(InvitationModel.id == invitation_id)
            .values(token_hash=token_hash)
            .execution_options(synchronize_session=False)
        )

    async def delete(self, invitation_id: UUID) -> None:
        await self._db.execute(
            delete(InvitationModel)
            .where(InvitationModel.id == invitation_id)
            .execution_options(synchronize_session=False)
        )

    async def _one(self, statement: Select[Any]) -> Invitation | None:
        row = (await self._db.execute(statement)).one_or_none()
        return from_row(row, Invitation) if row is not None else None
