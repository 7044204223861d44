"""The unit of work of the tasks context: the tenancy's repositories and the tasks'."""

from __future__ import annotations

from functools import cached_property
from types import MappingProxyType
from typing import ClassVar

from app.infrastructure.db.organizations.uow import SqlOrganizationUnitOfWork
from app.infrastructure.db.tasks.repositories import SqlTaskNotices, SqlTaskRepository
from app.infrastructure.db.uow import ConstraintErrors


class SqlTaskUnitOfWork(SqlOrganizationUnitOfWork):
    constraint_errors: ClassVar[ConstraintErrors] = MappingProxyType({**SqlOrganizationUnitOfWork.constraint_errors})

    @cached_property
    def tasks(self) -> SqlTaskRepository:
        return SqlTaskRepository(self._session, self.tenant, self._changes)

    @cached_property
    def task_notices(self) -> SqlTaskNotices:
        return SqlTaskNotices(self._session, self.tenant)
