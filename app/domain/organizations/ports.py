"""The tenancy's repository ports: what the use cases need of storage, nothing of how."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from app.domain.organizations.membership import Membership


class MembershipRepository(Protocol):
    async def get(self, organization_id: UUID, user_id: UUID) -> Membership | None:
        """The user's membership of a live organization; None when either is missing or deleted.

        A deleted organization has no members as far as anyone can tell: its data is gone
        with it, and its existence is not disclosed.
        """
