"""The tenancy's ports: the unit of work with the organizations' repositories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from app.application.ports import UnitOfWork
from app.domain.organizations.ports import MembershipRepository


class OrganizationUnitOfWork(UnitOfWork, Protocol):
    """A unit of work that also reaches the organizations and their members."""

    @property
    def memberships(self) -> MembershipRepository: ...


OrganizationUnitOfWorkFactory = Callable[[], OrganizationUnitOfWork]
