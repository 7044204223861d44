"""What the AsyncAPI document says about both directions, the same for every broker, read off the classes.

Inbound: the messages ``InboundMessages`` applies (each class names its ``type`` and its
fields are the ``data``). Outbound: the events in the service's ``EventCatalog``. The relay
publishes through ``broker.publish``; the publishers declared from these descriptions only
document it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.application.inbound import InboundMessage
from app.infrastructure.messaging.publisher import DEAD_LETTER_QUEUE
from app.infrastructure.outbox.catalog import EventCatalog
from app.infrastructure.outbox.envelope import envelope_type, payload_fields

_ENVELOPE = "Envelope {id, type, occurred_at, version, data}"


@dataclass(frozen=True, slots=True)
class Published:
    """One published event: its routing key (the event type), what the document says of it, and its envelope's type."""

    routing_key: str
    description: str
    schema: type


@dataclass(frozen=True, slots=True)
class BrokerSpec:
    """The consumer's queue description, and every published event's."""

    inbound: str
    outbound: tuple[Published, ...]


def broker_spec(messages: Iterable[type[InboundMessage]], events: EventCatalog) -> BrokerSpec:
    commands = ", ".join(f"{message.type} {_braced(message.__struct_fields__)}" for message in messages)
    return BrokerSpec(
        inbound=(
            f"Inbound commands: {commands}. {_ENVELOPE}; each id is applied once; poison goes to "
            f"{DEAD_LETTER_QUEUE} with an x-dead-letter-reason header. With tracing on, a W3C traceparent "
            "header is continued."
        ),
        outbound=tuple(
            Published(
                routing_key=event.type,
                description=f"{_ENVELOPE}; data = {_braced(payload_fields(event))}. "
                "Persistent, message_id = envelope id, published at least once after commit; with tracing "
                "on, a W3C traceparent header continues the trace of the change that caused it.",
                schema=envelope_type(event),
            )
            for event in events
        ),
    )


def _braced(names: Iterable[str]) -> str:
    return "{" + ", ".join(names) + "}"
