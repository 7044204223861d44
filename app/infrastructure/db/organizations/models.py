"""The tenancy's tables. They are the registry that decides which organization a request may
enter, read across organizations (a user's organizations, an invitation by its token), so
the application guards them; row-level security guards the tenant data they admit to.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from advanced_alchemy.base import DefaultBase, UUIDv7AuditBase, UUIDv7Base
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, column, func
from sqlalchemy.orm import Mapped, mapped_column

from app.domain.organizations.values import NAME_MAX_LENGTH, SLUG_MAX_LENGTH, OrgRole
from app.domain.users.values import EMAIL_MAX_LENGTH

UQ_ORGANIZATIONS_SLUG = "uq_organizations_slug"
UQ_INVITATIONS_EMAIL = "uq_invitations_organization_id_email"
_ROLES = ", ".join(f"'{role.value}'" for role in OrgRole)


class OrganizationModel(UUIDv7AuditBase):
    __tablename__ = "organizations"
    __table_args__ = (
        # Among live organizations only: a deleted organization's slug is free again.
        Index(
            UQ_ORGANIZATIONS_SLUG,
            "slug",
            unique=True,
            postgresql_where=column("deleted_at").is_(None),
            sqlite_where=column("deleted_at").is_(None),
        ),
    )

    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    slug: Mapped[str] = mapped_column(String(SLUG_MAX_LENGTH))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class MembershipModel(DefaultBase):
    __tablename__ = "memberships"
    __table_args__ = (
        # A user's organizations; the primary key serves an organization's members.
        Index("ix_memberships_user_id", "user_id"),
        Index("ix_memberships_organization_id_joined_at", "organization_id", "joined_at", "user_id"),
        CheckConstraint(f"role IN ({_ROLES})", name="role_known"),
    )

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class InvitationModel(UUIDv7Base):
    """Pending invitations only: accepting, revoking or replacing one deletes its row (and so its token)."""

    __tablename__ = "invitations"
    __table_args__ = (
        # One pending invitation per address and organization: inviting again replaces it.
        Index(UQ_INVITATIONS_EMAIL, "organization_id", func.lower(column("email")), unique=True),
        CheckConstraint(f"role IN ({_ROLES})", name="role_known"),
    )

    organization_id: Mapped[UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    role: Mapped[str] = mapped_column(String(16))
    #: NULL until the invitation's email went out: the job that sends it issues the token.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invited_by: Mapped[UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
