"""The unit of work of the tenancy: the accounts' repositories and the organizations'."""

from __future__ import annotations

from functools import cached_property
from types import MappingProxyType
from typing import ClassVar

from app.infrastructure.db.organizations.repositories import SqlMembershipRepository
from app.infrastructure.db.uow import ConstraintErrors, SqlAlchemyUnitOfWork


class SqlOrganizationUnitOfWork(SqlAlchemyUnitOfWork):
    constraint_errors: ClassVar[ConstraintErrors] = MappingProxyType({**SqlAlchemyUnitOfWork.constraint_errors})

    @cached_property
    def memberships(self) -> SqlMembershipRepository:
        return SqlMembershipRepository(self._session)
