"""The unit of work of the tenancy: the accounts' repositories and the organizations'."""

from __future__ import annotations

from functools import cached_property
from types import MappingProxyType
from typing import ClassVar

from app.domain.organizations.errors import AlreadyMember, SlugTaken
from app.infrastructure.db.organizations.models import UQ_ORGANIZATIONS_SLUG
from app.infrastructure.db.organizations.repositories import (
    SqlInvitationRepository,
    SqlMembershipRepository,
    SqlOrganizationRepository,
)
from app.infrastructure.db.uow import ConstraintErrors, SqlAlchemyUnitOfWork

#: A membership's primary key (organization, user): a second one is a member joining twice.
PK_MEMBERSHIPS = "pk_memberships"


class SqlOrganizationUnitOfWork(SqlAlchemyUnitOfWork):
    constraint_errors: ClassVar[ConstraintErrors] = MappingProxyType(
        {**SqlAlchemyUnitOfWork.constraint_errors, UQ_ORGANIZATIONS_SLUG: SlugTaken, PK_MEMBERSHIPS: AlreadyMember}
    )

    @cached_property
    def memberships(self) -> SqlMembershipRepository:
        return SqlMembershipRepository(self._session)

    @cached_property
    def organizations(self) -> SqlOrganizationRepository:
        return SqlOrganizationRepository(self._session, self._changes)

    @cached_property
    def invitations(self) -> SqlInvitationRepository:
        return SqlInvitationRepository(self._session)
