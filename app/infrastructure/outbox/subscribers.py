"""The relay's in-process destination: how this service reacts to its own committed events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import nullcontext
from typing import Any, TypeVar

from app.domain.events import DomainEvent
from app.infrastructure.outbox.catalog import EventCatalog
from app.infrastructure.outbox.destination import Confirmed
from app.infrastructure.outbox.envelope import event_from_envelope
from app.infrastructure.outbox.tracing import EventTracing, TraceHeaders

E = TypeVar("E", bound=DomainEvent)
_Handler = Callable[[Any], Awaitable[None]]


class CommittedEvents:
    """Subscribers by event class; each is handed the event itself, decoded from its envelope.

    Subscribers (``UserRegistered`` enqueues the welcome email job) run in whichever
    process relays the event, once per relaying, in outbox order. The relay marks an event
    handled only when every subscriber returned, so a subscriber that fails has the event
    again at the next try (delivery is at least once); the broker is another destination,
    tracked apart (see ``relay``).
    """

    def __init__(self, tracing: EventTracing | None = None) -> None:
        """``tracing`` (None: off): subscribers run in their event's trace, so the jobs they enqueue continue it."""
        self._tracing = tracing
        self._subscribed = EventCatalog()
        self._handlers: dict[type[DomainEvent], list[_Handler]] = {}

    def subscribe(self, event_class: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self._subscribed.register(event_class)
        self._handlers.setdefault(event_class, []).append(handler)

    async def publish_batch(
        self, envelopes: Sequence[dict[str, Any]], headers: Sequence[TraceHeaders] | None = None
    ) -> Confirmed:
        """Hand each event to its subscribers, in order; the count stops at the first event one failed on."""
        for count, envelope in enumerate(envelopes):
            event_class = self._subscribed.get(envelope["type"])
            if event_class is None:
                continue
            in_trace = (
                self._tracing.continued(headers[count]) if self._tracing is not None and headers else nullcontext()
            )
            try:
                event = event_from_envelope(envelope, event_class)
                with in_trace:
                    for handler in self._handlers[event_class]:
                        await handler(event)
            except Exception as exc:  # noqa: BLE001 - the relay retries from this event on
                return Confirmed(count, exc)
        return Confirmed(len(envelopes))
