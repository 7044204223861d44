"""Row-level security on the tasks: what PostgreSQL itself refuses, whatever a statement forgets.

Each test runs statements that carry no tenant filter of their own, so that only the
policies (``tenant_isolation_ddl``) stand between one organization and another's rows.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from app.application.tasks.dto import TaskCreate
from app.bootstrap import Container, build_container
from app.domain.organizations.values import OrgRole
from app.infrastructure.db.tasks.uow import SqlTaskUnitOfWork
from app.infrastructure.db.tenancy import TENANT_ROLE, scope_statement
from tests.conftest import alembic_config, make_settings
from tests.support.factories import PASSWORD, unique_email
from tests.support.tenancy import create_organization

_EVERY_TASK = text("SELECT organization_id FROM tasks")


@pytest.fixture
async def two_organizations(container: Container) -> tuple[UUID, UUID]:
    """Organizations A and B with two tasks each, made by their owners."""
    ids = []
    for name in ("A", "B"):
        owner = (await container.users.sign_up(unique_email(), PASSWORD, {})).id
        organization_id = await create_organization(container.engine, {owner: OrgRole.OWNER}, name=name)
        for title in ("one", "two"):
            await container.tasks.create(owner, organization_id, TaskCreate(title=f"{name} {title}"))
        ids.append(organization_id)
    return ids[0], ids[1]


async def test_a_unit_of_work_scoped_to_a_sees_only_as_rows(
    container: Container, two_organizations: tuple[UUID, UUID]
) -> None:
    a, _ = two_organizations
    async with container.tasks.uow() as uow:
        assert isinstance(uow, SqlTaskUnitOfWork)
        await uow.scope_to(a)
        rows = (await uow._session.execute(_EVERY_TASK)).scalars().all()
        # A later transaction of the same unit of work is scoped again.
        await uow._session.commit()
        rows_later = (await uow._session.execute(_EVERY_TASK)).scalars().all()
    assert sorted(rows) == [a, a]
    assert sorted(rows_later) == [a, a]


async def test_the_tenant_role_with_no_organization_set_sees_nothing(
    container: Container, two_organizations: tuple[UUID, UUID]
) -> None:
    async with container.engine.begin() as connection:
        await connection.execute(text(f"SET LOCAL ROLE {TENANT_ROLE}"))
        assert (await connection.execute(_EVERY_TASK)).all() == []
        assert (await connection.execute(text("SELECT count(*) FROM task_notices"))).scalar() == 0


async def test_a_superuser_scoped_to_a_cannot_read_or_write_bs_rows(
    container: Container, two_organizations: tuple[UUID, UUID]
) -> None:
    """The suite connects as a superuser, whom policies do not bind; the scope's role switch does."""
    a, b = two_organizations
    async with container.engine.connect() as connection:
        assert (await connection.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))).scalar()
        unscoped = (await connection.execute(_EVERY_TASK)).scalars().all()
        assert sorted(map(str, unscoped)) == sorted(map(str, [a, a, b, b]))  # a superuser sees all, unscoped
        await connection.rollback()

        async with connection.begin():
            await connection.execute(scope_statement(a))
            assert (
                await connection.execute(text("SELECT count(*) FROM tasks WHERE organization_id = :b"), {"b": b})
            ).scalar() == 0
            updated = await connection.execute(
                text("UPDATE tasks SET title = 'taken' WHERE organization_id = :b"), {"b": b}
            )
            assert updated.rowcount == 0
        async with connection.begin():
            await connection.execute(scope_statement(a))
            with pytest.raises(ProgrammingError, match="row-level security"):
                await connection.execute(
                    text("UPDATE tasks SET organization_id = :b WHERE organization_id = :a"), {"a": a, "b": b}
                )


@pytest.fixture
async def owner_database(postgres_server_url: str) -> AsyncIterator[str]:
    """A database owned, and migrated, by a role that is no superuser: the deployment's usual shape.

    The role has ``CREATEROLE``, which migration 0008 needs to create the tenant role (or
    to find it, as here, and grant it to itself).
    """
    server = make_url(postgres_server_url)
    admin = await asyncpg.connect(server.set(drivername="postgresql").render_as_string(hide_password=False))
    suffix = secrets.token_hex(4)
    role, password, name = f"owner_{suffix}", secrets.token_hex(16), f"owned_{suffix}"
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN CREATEROLE PASSWORD '{password}'")
        await admin.execute(f'CREATE DATABASE "{name}" OWNER {role}')
        url = server.set(username=role, password=password, database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


async def test_policies_bind_the_tables_owner_and_its_scoped_transactions(owner_database: str) -> None:
    """Connected as the owner (no superuser): unscoped, it sees no task (``FORCE``); scoped, its organization's."""
    container = build_container(make_settings(owner_database))
    try:
        owners = [(await container.users.sign_up(unique_email(), PASSWORD, {})).id for _ in range(2)]
        a, b = [await create_organization(container.engine, {owner: OrgRole.OWNER}) for owner in owners]
        await container.tasks.create(owners[0], a, TaskCreate(title="A's"))
        await container.tasks.create(owners[1], b, TaskCreate(title="B's"))
        async with container.engine.connect() as connection:
            assert not (
                await connection.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
            ).scalar()
            assert (await connection.execute(_EVERY_TASK)).all() == []
            await connection.rollback()
            async with connection.begin():
                await connection.execute(scope_statement(a))
                assert (await connection.execute(_EVERY_TASK)).scalars().all() == [a]
        assert [task.title for task in (await container.tasks.list(owners[1], b, {})).items] == ["B's"]
    finally:
        await container.close()
