"""``/api/v1/organizations``: the tenants, their members and invitations; and accepting an invitation.

Every route under an organization answers 404 to a caller who is not a member (its
existence is not disclosed) and 403 to a member whose role is too low; the use cases
decide both (``app.application.organizations.access``), so the routes only pass the caller on.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from app.application.auth.principal import Principal
from app.application.listing import Page
from app.application.organizations.commands import OrganizationCommands
from app.application.organizations.dto import (
    InvitationAcceptBody,
    InvitationCreateBody,
    InvitationRead,
    MemberRead,
    MemberRoleBody,
    OrganizationCreateBody,
    OrganizationPatchBody,
    OrganizationRead,
)
from app.application.organizations.invitations import Invitations
from app.application.organizations.listing import MEMBER_LISTING, ORGANIZATION_LISTING
from app.application.organizations.members import MemberCommands
from app.interfaces.http.listing import listing_operation
from app.interfaces.http.openapi import AUTHENTICATED, problems

ORGANIZATION = "/{org_id:uuid}"
NOT_A_MEMBER = "404 to anyone who is not a member of the organization, 403 to a member whose role is too low."
LAST_OWNER_RULE = "Demoting or removing the last owner is refused with 409 `conflict`."


def _query(request: Request[Any, Any, Any]) -> dict[str, list[str]]:
    params = request.query_params
    return {name: params.getall(name) for name in params}


class OrganizationsController(Controller):
    path = "/api/v1/organizations"
    tags = ["organizations"]
    security = AUTHENTICATED

    @post(
        operation_id="createOrganization",
        status_code=201,
        responses=problems(400, 401, 409, 413, 422),
        summary="Create an organization; the caller becomes its owner",
        description="Without `slug`, one is derived from the name (never a 409); a `slug` given and taken → 409.",
    )
    async def create(
        self,
        data: JSONBody[OrganizationCreateBody],
        principal: NamedDependency[Principal],
        organizations: NamedDependency[OrganizationCommands],
    ) -> OrganizationRead:
        return await organizations.create(principal.user_id, data)

    @get(
        operation_id="listOrganizations",
        responses=problems(401, 422),
        summary="The caller's organizations: filters, ordering, keyset pagination",
        description=ORGANIZATION_LISTING.help_text(),
        operation_class=listing_operation(ORGANIZATION_LISTING),
    )
    async def list_mine(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        organizations: NamedDependency[OrganizationCommands],
    ) -> Page[OrganizationRead]:
        return await organizations.list_mine(principal.user_id, _query(request))

    @get(
        ORGANIZATION,
        operation_id="getOrganization",
        responses=problems(400, 401, 404, 422),
        summary="One organization, with the caller's role in it",
        description=NOT_A_MEMBER,
    )
    async def read(
        self,
        org_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        organizations: NamedDependency[OrganizationCommands],
    ) -> OrganizationRead:
        return await organizations.get(principal.user_id, org_id)

    @patch(
        ORGANIZATION,
        operation_id="updateOrganization",
        responses=problems(400, 401, 403, 404, 409, 413, 422),
        summary="Rename an organization or change its slug (admin or owner)",
        description=f"A slug taken by another organization → 409. {NOT_A_MEMBER}",
    )
    async def update(
        self,
        org_id: FromPath[UUID],
        data: JSONBody[OrganizationPatchBody],
        principal: NamedDependency[Principal],
        organizations: NamedDependency[OrganizationCommands],
    ) -> OrganizationRead:
        return await organizations.update(principal.user_id, org_id, data)

    @delete(
        ORGANIZATION,
        operation_id="deleteOrganization",
        status_code=204,
        responses=problems(400, 401, 403, 404, 422),
        summary="Soft-delete an organization (owner): 404 for everyone afterwards",
        description=NOT_A_MEMBER,
    )
    async def remove(
        self,
        org_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        organizations: NamedDependency[OrganizationCommands],
    ) -> None:
        await organizations.delete(principal.user_id, org_id)

    @get(
        f"{ORGANIZATION}/members",
        operation_id="listMembers",
        responses=problems(400, 401, 404, 422),
        summary="An organization's members: filters, ordering, keyset pagination",
        description=f"{MEMBER_LISTING.help_text()}\n\n{NOT_A_MEMBER}",
        operation_class=listing_operation(MEMBER_LISTING),
    )
    async def list_members(
        self,
        request: Request[Any, Any, Any],
        org_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        members: NamedDependency[MemberCommands],
    ) -> Page[MemberRead]:
        return await members.list_members(principal.user_id, org_id, _query(request))

    @patch(
        f"{ORGANIZATION}/members/{{user_id:uuid}}",
        operation_id="changeMemberRole",
        responses=problems(400, 401, 403, 404, 409, 413, 422),
        summary="Change a member's role (admin or owner; only an owner grants, changes or removes `owner`)",
        description=f"{LAST_OWNER_RULE} {NOT_A_MEMBER}",
    )
    async def change_role(
        self,
        org_id: FromPath[UUID],
        user_id: FromPath[UUID],
        data: JSONBody[MemberRoleBody],
        principal: NamedDependency[Principal],
        members: NamedDependency[MemberCommands],
    ) -> MemberRead:
        return await members.change_role(principal.user_id, org_id, user_id, data.role)

    @delete(
        f"{ORGANIZATION}/members/{{user_id:uuid}}",
        operation_id="removeMember",
        status_code=204,
        responses=problems(400, 401, 403, 404, 409, 422),
        summary="Remove a member (admin or owner), or leave (any member, their own id)",
        description=f"An admin cannot remove an owner (403). {LAST_OWNER_RULE} {NOT_A_MEMBER}",
    )
    async def remove_member(
        self,
        org_id: FromPath[UUID],
        user_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        members: NamedDependency[MemberCommands],
    ) -> None:
        await members.remove(principal.user_id, org_id, user_id)

    @post(
        f"{ORGANIZATION}/invitations",
        operation_id="createInvitation",
        status_code=201,
        responses=problems(400, 401, 403, 404, 409, 413, 422),
        summary="Invite an address to a role (admin or owner); it is emailed a link with `token=`",
        description=(
            "Inviting to a role higher than one's own → 403; an address already a member → 409. Inviting a "
            f"pending address again replaces its invitation (the old link stops working). {NOT_A_MEMBER}"
        ),
    )
    async def invite(
        self,
        org_id: FromPath[UUID],
        data: JSONBody[InvitationCreateBody],
        principal: NamedDependency[Principal],
        invitations: NamedDependency[Invitations],
    ) -> InvitationRead:
        return await invitations.invite(principal.user_id, org_id, data)

    @get(
        f"{ORGANIZATION}/invitations",
        operation_id="listInvitations",
        responses=problems(400, 401, 403, 404, 422),
        summary="An organization's pending invitations (admin or owner)",
        description=NOT_A_MEMBER,
    )
    async def list_invitations(
        self,
        org_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        invitations: NamedDependency[Invitations],
    ) -> list[InvitationRead]:
        return await invitations.list_pending(principal.user_id, org_id)

    @delete(
        f"{ORGANIZATION}/invitations/{{invitation_id:uuid}}",
        operation_id="revokeInvitation",
        status_code=204,
        responses=problems(400, 401, 403, 404, 422),
        summary="Revoke a pending invitation (admin or owner): its link stops working",
        description=NOT_A_MEMBER,
    )
    async def revoke_invitation(
        self,
        org_id: FromPath[UUID],
        invitation_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        invitations: NamedDependency[Invitations],
    ) -> None:
        await invitations.revoke(principal.user_id, org_id, invitation_id)


class InvitationAcceptController(Controller):
    path = "/api/v1/invitations"
    tags = ["organizations"]
    security = AUTHENTICATED

    @post(
        "/accept",
        operation_id="acceptInvitation",
        status_code=200,
        responses=problems(400, 401, 403, 409, 413, 422),
        summary="Join an organization with the token of an invitation",
        description=(
            "The caller's email must be the invited one (case-insensitive) → else 403; an unknown, spent, revoked "
            "or expired token → 422 naming `token`; already a member → 409."
        ),
    )
    async def accept(
        self,
        data: JSONBody[InvitationAcceptBody],
        principal: NamedDependency[Principal],
        invitations: NamedDependency[Invitations],
    ) -> OrganizationRead:
        return await invitations.accept(principal.user, data.token)
