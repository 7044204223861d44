"""A user's place in an organization: what every tenant-scoped use case checks first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from app.domain.organizations.values import OrgRole


@dataclass(frozen=True, slots=True, kw_only=True)
class Membership:
    organization_id: UUID
    user_id: UUID
    role: OrgRole
    joined_at: datetime
