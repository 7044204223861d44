"""Organizations and their members, set up in the database the way the tenancy's use cases leave them.

Tests of tenant-scoped data need an organization and members with roles before anything
else; these helpers write the rows directly (the tables are the registry of tenants, not
tenant data: row-level security does not guard them).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from uuid import UUID

import uuid_utils.compat as uuid_utils
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.organizations.values import OrgRole
from app.infrastructure.db.organizations.models import MembershipModel, OrganizationModel


async def create_organization(engine: AsyncEngine, members: Mapping[UUID, OrgRole], *, name: str = "Acme") -> UUID:
    """A live organization with ``members`` (user id → role); returns its id."""
    organization_id = uuid_utils.uuid7()
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        await connection.execute(
            insert(OrganizationModel),
            [
                {
                    "id": organization_id,
                    "name": name,
                    "slug": f"org-{organization_id.hex[-12:]}",
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
    for user_id, role in members.items():
        await add_member(engine, organization_id, user_id, role)
    return organization_id


async def add_member(engine: AsyncEngine, organization_id: UUID, user_id: UUID, role: OrgRole) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(MembershipModel),
            [
                {
                    "organization_id": organization_id,
                    "user_id": user_id,
                    "role": role.value,
                    "joined_at": datetime.now(UTC),
                }
            ],
        )


async def delete_organization(engine: AsyncEngine, organization_id: UUID) -> None:
    """Soft-delete it, as its owner deleting it does: 404 for everyone afterwards."""
    async with engine.begin() as connection:
        await connection.execute(
            update(OrganizationModel)
            .where(OrganizationModel.id == organization_id)
            .values(deleted_at=datetime.now(UTC))
        )
