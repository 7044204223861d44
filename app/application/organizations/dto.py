"""Request and response bodies of the tenancy's use cases, bounded by the domain's own constants."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from app.application.auth.dto import OpaqueToken
from app.application.users.dto import NAME_PATTERN, EmailField, Input
from app.domain.organizations.model import Invitation, Organization
from app.domain.organizations.values import NAME_MAX_LENGTH, SLUG_MAX_LENGTH, SLUG_MIN_LENGTH, OrgRole

OrganizationNameField = Annotated[
    str, msgspec.Meta(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN, examples=["Acme Corp"])
]
SlugField = Annotated[
    str,
    msgspec.Meta(
        pattern=f"^[a-z0-9-]{{{SLUG_MIN_LENGTH},{SLUG_MAX_LENGTH}}}$",
        examples=["acme-corp"],
        description="Derived from the name when not given",
    ),
]


class OrganizationCreateBody(Input):
    name: OrganizationNameField
    slug: SlugField | None = None


class OrganizationPatchBody(Input):
    name: OrganizationNameField | None = None
    slug: SlugField | None = None


class MemberRoleBody(Input):
    role: OrgRole


class InvitationCreateBody(Input):
    email: EmailField
    role: OrgRole


class InvitationAcceptBody(Input):
    token: OpaqueToken


class OrganizationRead(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    slug: str
    #: The caller's role in the organization.
    role: OrgRole
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, organization: Organization, role: OrgRole) -> OrganizationRead:
        return cls(
            id=organization.id,
            name=organization.name,
            slug=organization.slug,
            role=role,
            created_at=organization.created_at,
            updated_at=organization.updated_at,
        )


class MemberRead(msgspec.Struct, kw_only=True):
    user_id: UUID
    email: str
    first_name: str | None
    last_name: str | None
    role: OrgRole
    joined_at: datetime


class InvitationRead(msgspec.Struct, kw_only=True):
    id: UUID
    organization_id: UUID
    email: str
    role: OrgRole
    created_at: datetime
    expires_at: datetime

    @classmethod
    def from_entity(cls, invitation: Invitation) -> InvitationRead:
        # The token's hash has no field here, so it cannot leak through this type.
        return msgspec.convert(invitation, cls, from_attributes=True)
