"""outbox delivery tracked per destination: the broker (published_at) and the jobs (handled_at)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("handled_at", DateTimeUTC(timezone=True), nullable=True))
    # Until now both destinations had an event together: what was published was handled.
    op.execute("UPDATE outbox SET handled_at = published_at")
    unhandled = sa.text("handled_at IS NULL")
    op.create_index("ix_outbox_unhandled", "outbox", ["id"], postgresql_where=unhandled, sqlite_where=unhandled)


def downgrade() -> None:
    # One mark again: an event some destination has not had yet goes to both once more
    # (delivery is at least once) rather than being lost to the one that missed it.
    op.execute("UPDATE outbox SET published_at = NULL WHERE handled_at IS NULL")
    op.drop_index("ix_outbox_unhandled", table_name="outbox")
    op.drop_column("outbox", "handled_at")
