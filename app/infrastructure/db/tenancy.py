"""Row-level security's half of tenant isolation: a transaction confined to one organization.

Every tenant-scoped table has ``ENABLE`` and ``FORCE ROW LEVEL SECURITY`` and a policy that
admits only rows of ``current_setting('app.organization_id')``. Policies do not bind a
superuser, nor a role with ``BYPASSRLS``, whatever ``FORCE`` says; so a scoped transaction
also switches, for itself only, to :data:`TENANT_ROLE`, a role without either, created by
the migrations. Both settings are ``LOCAL``: they end with the transaction, and a pooled
connection never carries one organization's scope into another's work.

A scope names the organization for every transaction of a session (see
:class:`ScopedSession`) or of a listing's connection, so a statement that forgot its
tenant filter still reads nothing of another organization, and a statement run with no
organization set reads nothing at all. SQLite (``just dev``) has no row-level security:
there the application's filter is the only guard.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Select, event, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

#: The role scoped transactions run as; ``migrations`` creates it (no login, no ``BYPASSRLS``).
TENANT_ROLE = "app_tenant"
#: The setting the policies read: the organization of the current transaction.
ORGANIZATION_SETTING = "app.organization_id"
#: Where a session keeps its organization between transactions.
_SCOPE = "organization_id"


def scope_statement(organization_id: UUID) -> Select[Any]:
    """Both settings for the current transaction, in one round trip."""
    return select(
        func.set_config("role", TENANT_ROLE, True),
        func.set_config(ORGANIZATION_SETTING, str(organization_id), True),
    )


def enforces_policies(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


class TenantScope:
    """The organization a unit of work is confined to, as its tenant-scoped repositories read it."""

    def __init__(self) -> None:
        self._organization_id: UUID | None = None

    @property
    def organization_id(self) -> UUID:
        """The organization; reading it unscoped is a bug (a use case skipped its membership check)."""
        if self._organization_id is None:
            raise RuntimeError("A tenant-scoped repository was used before the unit of work entered an organization")
        return self._organization_id

    def enter(self, session: Session, organization_id: UUID) -> None:
        """Scope the session's transactions from now on (the one in progress too, if any)."""
        self._organization_id = organization_id
        session.info[_SCOPE] = organization_id
        transaction = session.get_transaction()
        if transaction is not None:
            _scope(session, transaction, session.connection())


class TenantScopedRepository:
    """The base of a tenant-scoped table's repository: every statement is the organization's.

    ``scoped`` adds the application's filter; row-level security, set up by the same
    scope, holds even where a statement lacks it.
    """

    def __init__(self, session: AsyncSession, tenant: TenantScope) -> None:
        self._db = session
        self._tenant = tenant

    @property
    def organization_id(self) -> UUID:
        return self._tenant.organization_id


class ScopedSession(Session):
    """An ORM session that scopes each transaction it begins to its organization, once it has one."""


@event.listens_for(ScopedSession, "after_begin")
def _scope(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    organization_id = session.info.get(_SCOPE)
    if organization_id is not None and enforces_policies(connection):
        connection.execute(scope_statement(organization_id))


def create_tenant_role_ddl() -> list[str]:
    """The migrations' statements that make :data:`TENANT_ROLE` and let it work on every table.

    The role is the cluster's (databases share it), so it is created only when missing.
    The migrating user is granted it, so that the service, connecting as that user (the
    tables' owner), may switch to it; a superuser may anyway.
    """
    return [
        f"""
        DO $$ BEGIN
            CREATE ROLE {TENANT_ROLE} NOLOGIN NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object THEN NULL;
        END $$
        """,
        f"GRANT {TENANT_ROLE} TO CURRENT_USER",
        *_privileges("GRANT", "TO"),
    ]


def drop_tenant_privileges_ddl() -> list[str]:
    """The reverse of :func:`create_tenant_role_ddl` in this database; the role stays, other databases may use it."""
    return _privileges("REVOKE", "FROM")


def _privileges(verb: str, direction: str) -> list[str]:
    rights = "SELECT, INSERT, UPDATE, DELETE"
    return [
        f"""
        DO $$ BEGIN
            EXECUTE format('{verb} USAGE ON SCHEMA %I {direction} {TENANT_ROLE}', current_schema());
            EXECUTE format('{verb} {rights} ON ALL TABLES IN SCHEMA %I {direction} {TENANT_ROLE}', current_schema());
            EXECUTE format(
                'ALTER DEFAULT PRIVILEGES IN SCHEMA %I {verb} {rights} ON TABLES {direction} {TENANT_ROLE}',
                current_schema()
            );
        END $$
        """
    ]


def tenant_isolation_ddl(table: str) -> list[str]:
    """Row-level security on a tenant-scoped table (one with ``organization_id``): its migration runs these.

    ``FORCE`` binds the table's owner too; the policy admits no row when no organization is set.
    """
    organization = f"NULLIF(current_setting('{ORGANIZATION_SETTING}', true), '')::uuid"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {table}_tenant_isolation ON {table} "
        f"USING (organization_id = {organization}) WITH CHECK (organization_id = {organization})",
    ]


def drop_tenant_isolation_ddl(table: str) -> list[str]:
    return [
        f"DROP POLICY {table}_tenant_isolation ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]
