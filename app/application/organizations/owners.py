"""An organization always keeps an owner, and its membership changes take turns.

Every change of membership locks the organization's row first (``enter_locked``), then
reads the caller's membership: changes to one organization's members run one after the
other, so two owners removing each other at once cannot both succeed and leave none.
Then a change that takes an owner away asks ``ensure_an_owner_remains``, the tenancy's
counterpart of ``app.application.users.admins``.
"""

from __future__ import annotations

from uuid import UUID

from app.application.organizations.access import OrganizationNotFound, enter_organization
from app.application.organizations.ports import OrganizationUnitOfWork
from app.domain.errors import NotFound
from app.domain.organizations.errors import LastOwner
from app.domain.organizations.membership import Membership
from app.domain.organizations.model import Organization
from app.domain.organizations.values import OrgRole


async def enter_locked(
    uow: OrganizationUnitOfWork, organization_id: UUID, user_id: UUID, *, at_least: OrgRole = OrgRole.MEMBER
) -> tuple[Organization, Membership]:
    """The organization, locked for this transaction, and the caller's membership, read under the lock."""
    organization = await uow.organizations.get(organization_id, for_update=True)
    membership = await enter_organization(uow, organization_id, user_id, at_least=at_least)
    if organization is None:  # not reached: a membership of a missing organization is None
        raise OrganizationNotFound()
    return organization, membership


async def member(uow: OrganizationUnitOfWork, organization_id: UUID, user_id: UUID) -> Membership:
    """Another member of the organization the caller entered, or ``NotFound``."""
    membership = await uow.memberships.get(organization_id, user_id)
    if membership is None:
        raise NotFound(f"User {user_id} is not a member of the organization")
    return membership


async def ensure_an_owner_remains(uow: OrganizationUnitOfWork, target: Membership, role: OrgRole | None) -> None:
    """``LastOwner`` if ``target`` is the only owner and would become ``role`` (None: removed)."""
    if (
        target.role is OrgRole.OWNER
        and role is not OrgRole.OWNER
        and await uow.memberships.count_owners(target.organization_id) <= 1
    ):
        raise LastOwner()
