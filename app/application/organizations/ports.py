"""The tenancy's ports: the unit of work with the organizations' repositories, its listings and jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from app.application.listing import ListQuery, Page
from app.application.ports import UnitOfWork
from app.domain.organizations.ports import InvitationRepository, MembershipRepository, OrganizationRepository

if TYPE_CHECKING:
    from app.application.organizations.dto import MemberRead, OrganizationRead


class OrganizationUnitOfWork(UnitOfWork, Protocol):
    """A unit of work that also reaches the organizations, their members and their invitations."""

    @property
    def memberships(self) -> MembershipRepository: ...

    @property
    def organizations(self) -> OrganizationRepository: ...

    @property
    def invitations(self) -> InvitationRepository: ...


OrganizationUnitOfWorkFactory = Callable[[], OrganizationUnitOfWork]


class OrganizationListing(Protocol):
    """A user's organizations, each with the user's role in it, one page at a time."""

    async def page(self, user_id: UUID, query: ListQuery) -> Page[OrganizationRead]: ...


class MemberListing(Protocol):
    """An organization's members, one page at a time."""

    async def page(self, organization_id: UUID, query: ListQuery) -> Page[MemberRead]: ...


class InvitationEmailJobs(Protocol):
    """Enqueues the job that mails an invitation its link (once, however often it runs)."""

    async def send_invitation_email(self, invitation_id: UUID) -> None: ...
