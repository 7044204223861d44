"""The outbox table, declared on the same metadata as every other table (migrations see it through it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from sqlalchemy import Index, String, column
from sqlalchemy.orm import Mapped, mapped_column


class OutboxModel(DefaultBase):
    """Events committed with the change that caused them, waiting for the relay to publish them.

    ``id`` is the envelope id (UUIDv7: time-ordered, so ``ORDER BY id`` is commit order
    closely enough for one aggregate, whose changes are serialized by its row lock).
    Each destination marks its own column: ``published_at`` once the broker confirmed the
    event, ``handled_at`` once this service's own subscribers (the jobs events start) had
    it; so one destination's outage neither holds up nor repeats the other. ``trace_context``
    keeps the trace of the request that wrote the event, for its publication to continue.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        # The relay's queries: the oldest rows each destination has not had.
        Index(
            "ix_outbox_unpublished",
            "id",
            postgresql_where=column("published_at").is_(None),
            sqlite_where=column("published_at").is_(None),
        ),
        Index(
            "ix_outbox_unhandled",
            "id",
            postgresql_where=column("handled_at").is_(None),
            sqlite_where=column("handled_at").is_(None),
        ),
        Index("ix_outbox_published_at", "published_at"),
    )

    id: Mapped[UUID] = mapped_column(GUID(length=16), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    aggregate_id: Mapped[UUID] = mapped_column(GUID(length=16))
    envelope: Mapped[dict[str, Any]] = mapped_column(JsonB)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    handled_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    attempts: Mapped[int] = mapped_column(default=0)
    #: The W3C trace-context headers of the span that wrote the event (``tracing``); None with tracing off.
    trace_context: Mapped[dict[str, str] | None] = mapped_column(JsonB)
