"""tasks and the record of their emails, both isolated per organization by row-level security

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from advanced_alchemy.types import JsonB
from alembic import op
from sqlalchemy import JSON
from sqlalchemy.dialects import postgresql

from app.infrastructure.db.tenancy import drop_tenant_isolation_ddl, tenant_isolation_ddl

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TENANT_TABLES = ("tasks", "task_notices")


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("organization_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("assignee_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("due_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.Text()).with_variant(JSON(), "sqlite"), nullable=False),
        sa.Column("meta", JsonB, nullable=False),
        sa.Column("created_by", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("completed_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("deleted_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name=op.f("ck_tasks_priority_known")),
        sa.CheckConstraint("status IN ('todo', 'in_progress', 'done', 'canceled')", name=op.f("ck_tasks_status_known")),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_tasks_assignee_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_tasks_created_by_users")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_tasks_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(
        "ix_tasks_organization_id_assignee_id", "tasks", ["organization_id", "assignee_id", "created_at", "id"]
    )
    op.create_index("ix_tasks_organization_id_created_at", "tasks", ["organization_id", "created_at", "id"])
    op.create_index("ix_tasks_organization_id_due_at", "tasks", ["organization_id", "due_at", "id"])
    op.create_index("ix_tasks_organization_id_status", "tasks", ["organization_id", "status", "created_at", "id"])
    op.create_index("ix_tasks_organization_id_updated_at", "tasks", ["organization_id", "updated_at", "id"])
    op.create_table(
        "task_notices",
        sa.Column("task_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("moment", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("organization_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("sent_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_task_notices_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_notices_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "kind", "moment", name=op.f("pk_task_notices")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_tasks_tags", "tasks", ["tags"], postgresql_using="gin")
        op.create_index(
            "ix_tasks_organization_id_remindable_due_at",
            "tasks",
            ["organization_id", "due_at"],
            postgresql_where=sa.text(
                "deleted_at IS NULL AND assignee_id IS NOT NULL AND status IN ('in_progress', 'todo')"
            ),
        )
        for table in _TENANT_TABLES:
            for statement in tenant_isolation_ddl(table):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _TENANT_TABLES:
            for statement in drop_tenant_isolation_ddl(table):
                op.execute(statement)
        op.drop_index("ix_tasks_organization_id_remindable_due_at", table_name="tasks")
        op.drop_index("ix_tasks_tags", table_name="tasks")
    op.drop_table("task_notices")
    op.drop_index("ix_tasks_organization_id_updated_at", table_name="tasks")
    op.drop_index("ix_tasks_organization_id_status", table_name="tasks")
    op.drop_index("ix_tasks_organization_id_due_at", table_name="tasks")
    op.drop_index("ix_tasks_organization_id_created_at", table_name="tasks")
    op.drop_index("ix_tasks_organization_id_assignee_id", table_name="tasks")
    op.drop_table("tasks")
