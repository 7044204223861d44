"""What happened to an organization and its members, as other services hear of it.

The organization is the aggregate: memberships change through it, so every event of the
tenancy is keyed (and ordered) by ``organization_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from app.domain.events import DomainEvent
from app.domain.organizations.values import OrgRole


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganizationEvent(DomainEvent):
    aggregate: ClassVar[str] = "organization"
    organization_id: UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganizationCreated(OrganizationEvent):
    type: ClassVar[str] = "organization.created"
    created_by: UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberJoined(OrganizationEvent):
    type: ClassVar[str] = "organization.member_joined"
    user_id: UUID
    role: OrgRole


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberRemoved(OrganizationEvent):
    type: ClassVar[str] = "organization.member_removed"
    user_id: UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberRoleChanged(OrganizationEvent):
    type: ClassVar[str] = "organization.member_role_changed"
    user_id: UUID
    role: OrgRole


ORGANIZATION_EVENTS: tuple[type[OrganizationEvent], ...] = (
    OrganizationCreated,
    MemberJoined,
    MemberRemoved,
    MemberRoleChanged,
)
