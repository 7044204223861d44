"""Writing events to the outbox, inside the transaction of the change that caused them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, cast

import uuid_utils.compat as uuid_utils
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.events import DomainEvent
from app.infrastructure.outbox.envelope import envelope
from app.infrastructure.outbox.model import OutboxModel
from app.infrastructure.outbox.tracing import TraceHeaders

if TYPE_CHECKING:
    from sqlalchemy import Table

#: Wakes relays in other processes at commit time (delivered only if the transaction commits).
OUTBOX_CHANNEL = "app_outbox"


class OutboxWakeup(Protocol):
    def wake(self) -> None:
        """New rows were committed to the outbox: publish them now rather than at the next poll."""


async def write_events(
    session: AsyncSession, events: Sequence[DomainEvent], trace_context: TraceHeaders | None = None
) -> None:
    """Add the events' rows (and on PostgreSQL a ``NOTIFY`` for the relays) to the session's transaction.

    Whatever aggregate recorded them: each row names its event's type and aggregate id, and
    carries the envelope the relay hands over as it is, and the trace context (if any) of
    the work that wrote it.
    """
    rows = [_row(event, trace_context) for event in events]
    # The table, not the mapped class: a Core executemany, without the ORM's bulk-insert bookkeeping.
    await session.execute(insert(cast("Table", OutboxModel.__table__)), rows)
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))


def _row(event: DomainEvent, trace_context: TraceHeaders | None) -> dict[str, object]:
    event_id = uuid_utils.uuid7()
    return {
        "id": event_id,
        "type": event.type,
        "aggregate_id": event.aggregate_id,
        "envelope": envelope(event, event_id),
        "created_at": event.occurred_at,
        "published_at": None,
        "handled_at": None,
        "attempts": 0,
        "trace_context": trace_context,
    }
