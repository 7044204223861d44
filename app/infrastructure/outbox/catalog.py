"""The events the service publishes, keyed by class: what the AsyncAPI document describes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from app.domain.events import DomainEvent


class EventCatalog:
    """Every published event class, once each, in registration order.

    Each aggregate's events module lists its events; the composition root registers those
    lists here. Two classes claiming one ``type`` would be one routing key for two payloads:
    refused when the catalog is built, that is when any process starts.
    """

    def __init__(self, *event_classes: Iterable[type[DomainEvent]]) -> None:
        self._by_type: dict[str, type[DomainEvent]] = {}
        for group in event_classes:
            for event_class in group:
                self.register(event_class)

    def register(self, event_class: type[DomainEvent]) -> None:
        registered = self._by_type.setdefault(event_class.type, event_class)
        if registered is not event_class:
            raise ValueError(f"{event_class.__name__} and {registered.__name__} share the type {event_class.type!r}")

    def get(self, event_type: str) -> type[DomainEvent] | None:
        """The class of the events of this ``type``, if registered."""
        return self._by_type.get(event_type)

    def __iter__(self) -> Iterator[type[DomainEvent]]:
        return iter(self._by_type.values())
