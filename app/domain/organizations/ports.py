"""The tenancy's repository ports: what the use cases need of storage, nothing of how."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from app.domain.organizations.membership import Membership
from app.domain.organizations.model import Invitation, Organization


class MembershipRepository(Protocol):
    async def get(self, organization_id: UUID, user_id: UUID) -> Membership | None:
        """The user's membership of a live organization; None when either is missing or deleted.

        A deleted organization has no members as far as anyone can tell: its data is gone
        with it, and its existence is not disclosed.
        """

    async def add(self, membership: Membership) -> None: ...

    async def save(self, membership: Membership) -> None:
        """Store the membership's role."""

    async def remove(self, membership: Membership) -> None: ...

    async def count_owners(self, organization_id: UUID) -> int:
        """Owners of the organization whose accounts still exist (not soft-deleted).

        Asked under the organization's lock (``OrganizationRepository.get(for_update=True)``),
        which every change of membership takes, so concurrent removals wait for each other.
        """


class OrganizationRepository(Protocol):
    async def get(self, organization_id: UUID, *, for_update: bool = False) -> Organization | None:
        """A live organization; ``for_update`` locks it until the transaction ends, which is what
        serializes changes to its memberships."""

    async def add(self, organization: Organization) -> bool:
        """Insert it unless its slug is taken by a live organization (False then, and nothing written).

        The unique index decides, not a lookup beforehand: two concurrent creates with the same
        slug cannot both succeed.
        """

    async def save(self, organization: Organization) -> None:
        """Store its name, slug and deletion; a slug taken meanwhile is ``SlugTaken`` at commit."""

    def record(self, organization: Organization) -> None:
        """Hand its events to the unit of work when only its memberships changed, not its row."""


class InvitationRepository(Protocol):
    async def replace(self, invitation: Invitation) -> None:
        """Store it, deleting any pending invitation of the same address to the same organization."""

    async def get(self, invitation_id: UUID, *, for_update: bool = False) -> Invitation | None: ...

    async def by_token(self, token_hash: str) -> Invitation | None:
        """The pending invitation with this token (not locked: lock its organization, then ``get`` it)."""

    async def pending(self, organization_id: UUID, now: datetime) -> list[Invitation]:
        """The organization's unexpired invitations, newest first."""

    async def set_token(self, invitation_id: UUID, token_hash: str) -> None: ...

    async def delete(self, invitation_id: UUID) -> None: ...
