"""An organization's members: list them, change a role, remove one (or leave).

Who may do what is the organization's to say (``Organization.change_role``,
``Organization.remove``); that an owner remains is asked under the organization's lock
(``owners``). A member removed loses access at once: the next request's membership check
finds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from app.application.listing import CursorCodec, Page, parse_list_query
from app.application.organizations.access import OrganizationNotFound, enter_organization
from app.application.organizations.dto import MemberRead
from app.application.organizations.listing import MEMBER_LISTING
from app.application.organizations.owners import ensure_an_owner_remains, enter_locked, member
from app.application.organizations.ports import MemberListing, OrganizationUnitOfWork, OrganizationUnitOfWorkFactory
from app.application.ports import Clock
from app.domain.errors import NotFound
from app.domain.organizations.membership import Membership
from app.domain.organizations.values import OrgRole


@dataclass(kw_only=True, eq=False)
class MemberCommands:
    uow: OrganizationUnitOfWorkFactory
    listing: MemberListing
    cursors: CursorCodec
    clock: Clock

    async def list_members(
        self, user_id: UUID, organization_id: UUID, params: Mapping[str, Sequence[str]]
    ) -> Page[MemberRead]:
        query = parse_list_query(params, MEMBER_LISTING, self.cursors)
        async with self.uow() as uow:
            await enter_organization(uow, organization_id, user_id)
        return await self.listing.page(organization_id, query)

    async def change_role(self, user_id: UUID, organization_id: UUID, member_id: UUID, role: OrgRole) -> MemberRead:
        """Admin+; only an owner grants or takes away ``owner``, and the last owner stays one (409)."""
        async with self.uow() as uow:
            organization, actor = await enter_locked(uow, organization_id, user_id, at_least=OrgRole.ADMIN)
            target = await member(uow, organization_id, member_id)
            changed = organization.change_role(actor, target, role, self.clock())
            read = await _read(uow, changed)
            if changed is not target:
                await ensure_an_owner_remains(uow, target, role)
                await uow.memberships.save(changed)
                uow.organizations.record(organization)
                await uow.commit()
        return read

    async def remove(self, user_id: UUID, organization_id: UUID, member_id: UUID) -> None:
        """Admin+ removes a member, an owner removes anyone, anyone leaves; never the last owner (409)."""
        async with self.uow() as uow:
            organization, actor = await enter_locked(uow, organization_id, user_id)
            target = actor if member_id == user_id else await member(uow, organization_id, member_id)
            organization.remove(actor, target, self.clock())
            await ensure_an_owner_remains(uow, target, None)
            await uow.memberships.remove(target)
            uow.organizations.record(organization)
            await uow.commit()

    async def admit(self, organization_id: UUID, user_id: UUID, role: OrgRole) -> bool:
        """Make a user a member without an invitation: the operator's path (demo data), not a client's.

        False when the user already is a member (nothing changes); ``OrganizationNotFound`` if the
        organization is missing or deleted.
        """
        async with self.uow() as uow:
            organization = await uow.organizations.get(organization_id, for_update=True)
            if organization is None:
                raise OrganizationNotFound()
            if await uow.memberships.get(organization_id, user_id) is not None:
                return False
            await uow.memberships.add(organization.admit(user_id, role, self.clock()))
            uow.organizations.record(organization)
            await uow.commit()
        return True


async def _read(uow: OrganizationUnitOfWork, membership: Membership) -> MemberRead:
    user = await uow.users.get(membership.user_id, include_deleted=True)
    if user is None:  # a membership outlives no user: the row goes with it
        raise NotFound(f"User {membership.user_id} does not exist")
    return MemberRead(
        user_id=user.id,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        role=membership.role,
        joined_at=membership.joined_at,
    )
