"""The one membership check of every tenant-scoped use case.

The organization comes from the request's path; the caller's membership of it is read
once, in the use case's own transaction, and then the transaction is scoped to it. What a
client learns is deliberately little: not a member (or no such organization, or a deleted
one) is the same 404, so an organization's existence is not disclosed; a member whose
role is too low gets a 403. A platform administrator is nobody special here.
"""

from __future__ import annotations

from uuid import UUID

from app.application.organizations.ports import OrganizationUnitOfWork
from app.domain.errors import Forbidden, NotFound
from app.domain.organizations.membership import Membership
from app.domain.organizations.values import OrgRole


class OrganizationNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Organization not found")


async def enter_organization(
    uow: OrganizationUnitOfWork, organization_id: UUID, user_id: UUID, *, at_least: OrgRole = OrgRole.MEMBER
) -> Membership:
    """The caller's membership, once it is known to be enough; the unit of work is then scoped to it."""
    membership = await uow.memberships.get(organization_id, user_id)
    if membership is None:
        raise OrganizationNotFound()
    if not membership.role.at_least(at_least):
        raise Forbidden(f"This needs the {at_least} role or higher in the organization")
    await uow.scope_to(organization_id)
    return membership
