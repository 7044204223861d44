"""What any aggregate says happened: the base of every domain event, and the aggregates' recorder.

An event names itself (``type``, the routing key other services subscribe to) and its
aggregate (``aggregate``, and ``aggregate_id``) at class level, so that everything else
about it (the outbox row, the envelope, the AsyncAPI document, the jobs it starts) is
read from the class and nothing repeats the name. Aggregates record events as they
change (``Aggregate.record``); the repository that saves one hands them to the unit of
work (``pull_events``), which writes them to the outbox with the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar
from uuid import UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """One fact, immutable. A concrete event sets ``type``; its aggregate's base sets ``aggregate``
    and declares the aggregate's id as ``<aggregate>_id``, the contract's naming.

    The fields other than ``occurred_at`` are the event's payload (the envelope's ``data``),
    so they are plain values: strings, numbers, UUIDs, tuples of those.
    """

    type: ClassVar[str]
    aggregate: ClassVar[str]
    occurred_at: datetime

    @property
    def aggregate_id(self) -> UUID:
        """The id of the aggregate that changed: the payload's ``<aggregate>_id`` (``user_id``, ``task_id``)."""
        aggregate_id: UUID = getattr(self, f"{self.aggregate}_id")
        return aggregate_id


@dataclass(slots=True, kw_only=True)
class Aggregate:
    """Mixin of an aggregate root that records its events until the unit of work takes them."""

    _events: list[DomainEvent] = field(default_factory=list, init=False, compare=False, repr=False)

    def record(self, event: DomainEvent) -> None:
        self._events.append(event)

    def pull_events(self) -> list[DomainEvent]:
        """The events recorded since the last pull, oldest first; the aggregate forgets them."""
        events, self._events = self._events, []
        return events
