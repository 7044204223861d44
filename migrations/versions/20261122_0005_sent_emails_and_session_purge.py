"""sent emails (each once per user) and indexes for purging ended sessions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sent_emails",
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("sent_at", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sent_emails_user_id_users"), ondelete="CASCADE"
        ),
        # The claim: a second (user, kind) row is a conflict, which is how an email goes out once.
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("pk_sent_emails")),
    )
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])
    revoked = sa.text("revoked_at IS NOT NULL")
    op.create_index(
        "ix_sessions_revoked_at", "sessions", ["revoked_at"], postgresql_where=revoked, sqlite_where=revoked
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_revoked_at", table_name="sessions")
    op.drop_index("ix_sessions_expires_at", table_name="sessions")
    op.drop_table("sent_emails")
