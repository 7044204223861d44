"""The organization aggregate, and the invitations that lead into it.

Memberships change through the organization: it checks who may make the change and
records what happened (``MemberJoined``, ``MemberRemoved``, ``MemberRoleChanged``), and its
repository hands those events to the unit of work with the change. The one rule it cannot
check alone, that an owner remains, needs the other members: the use cases ask it of the
repository under the organization's lock (``app.application.organizations.owners``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from app.domain.errors import Forbidden
from app.domain.events import Aggregate
from app.domain.organizations.errors import OwnersOnly, RoleAboveOwn
from app.domain.organizations.events import MemberJoined, MemberRemoved, MemberRoleChanged, OrganizationCreated
from app.domain.organizations.membership import Membership
from app.domain.organizations.values import OrganizationName, OrgRole, Slug


@dataclass(slots=True, kw_only=True)
class Organization(Aggregate):
    id: UUID
    name: str
    slug: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    @classmethod
    def create(
        cls,
        *,
        id: UUID,  # noqa: A002 - mirrors the attribute name
        name: OrganizationName,
        slug: Slug,
        creator: UUID,
        now: datetime,
    ) -> tuple[Organization, Membership]:
        """A new organization and its first member, the creator, as its owner."""
        organization = cls(id=id, name=name.value, slug=slug.value, created_at=now, updated_at=now)
        organization.record(OrganizationCreated(organization_id=id, occurred_at=now, created_by=creator))
        return organization, organization.admit(creator, OrgRole.OWNER, now)

    def rename(self, now: datetime, *, name: OrganizationName | None = None, slug: Slug | None = None) -> bool:
        """Change the name and/or the slug; returns whether anything changed."""
        changed = False
        if name is not None and name.value != self.name:
            self.name, changed = name.value, True
        if slug is not None and slug.value != self.slug:
            self.slug, changed = slug.value, True
        if changed:
            self.updated_at = now
        return changed

    def delete(self, now: datetime) -> None:
        """Soft delete: the organization, its members and its data are gone for everyone."""
        self.deleted_at = now
        self.updated_at = now

    def admit(self, user_id: UUID, role: OrgRole, now: datetime) -> Membership:
        """A new member (the creator, or the addressee of an invitation that was accepted)."""
        self.record(MemberJoined(organization_id=self.id, occurred_at=now, user_id=user_id, role=role))
        return Membership(organization_id=self.id, user_id=user_id, role=role, joined_at=now)

    def check_invitation(self, inviter: Membership, role: OrgRole) -> None:
        """Nobody hands out more than they hold: ``RoleAboveOwn`` (403) for a role above the inviter's."""
        if not inviter.role.at_least(role):
            raise RoleAboveOwn()

    def change_role(self, actor: Membership, target: Membership, role: OrgRole, now: datetime) -> Membership:
        """The target's membership with ``role``; only an owner grants or takes away ``owner``."""
        if OrgRole.OWNER in (target.role, role) and actor.role is not OrgRole.OWNER:
            raise OwnersOnly()
        if role is target.role:
            return target
        self.record(MemberRoleChanged(organization_id=self.id, occurred_at=now, user_id=target.user_id, role=role))
        return replace(target, role=role)

    def remove(self, actor: Membership, target: Membership, now: datetime) -> None:
        """Anyone may leave; removing someone else takes an admin, and removing an owner an owner."""
        if actor.user_id != target.user_id:
            if not actor.role.at_least(OrgRole.ADMIN):
                raise Forbidden(f"Removing another member needs the {OrgRole.ADMIN} role or higher")
            if target.role is OrgRole.OWNER and actor.role is not OrgRole.OWNER:
                raise OwnersOnly()
        self.record(MemberRemoved(organization_id=self.id, occurred_at=now, user_id=target.user_id))


@dataclass(frozen=True, slots=True, kw_only=True)
class Invitation:
    """A pending invitation of an address to a role. ``token_hash`` is None until its email went out:
    the job that mails the link issues the token (so it never travels through the job queue)."""

    id: UUID
    organization_id: UUID
    email: str
    role: OrgRole
    token_hash: str | None
    invited_by: UUID | None
    created_at: datetime
    expires_at: datetime

    def is_for(self, email: str) -> bool:
        return self.email.lower() == email.lower()

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at <= now
