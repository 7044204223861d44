"""The wire form of an event: the contract's envelope, JSON, read off the event's class.

``{id, type, occurred_at, version, data}``: ``type`` is the class's, ``data`` its payload
(every field but ``occurred_at``). The same functions turn an envelope back into the
event for this service's own subscribers, so both directions follow the class.
"""

from __future__ import annotations

from dataclasses import fields, make_dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar, get_type_hints
from uuid import UUID

import msgspec

from app.domain.events import DomainEvent

ENVELOPE_VERSION = 1
E = TypeVar("E", bound=DomainEvent)
_OCCURRED_AT = "occurred_at"


def envelope(event: DomainEvent, event_id: UUID) -> dict[str, Any]:
    """``{id, type, occurred_at, version, data}``; ``data`` is the event without its timestamp."""
    data = msgspec.to_builtins(event)
    occurred_at = data.pop(_OCCURRED_AT)
    return {"id": str(event_id), "type": event.type, "occurred_at": occurred_at, "version": ENVELOPE_VERSION,
            "data": data}  # fmt: skip


def event_from_envelope(envelope: dict[str, Any], event_class: type[E]) -> E:
    """The event an envelope of ``event_class.type`` carries (``msgspec.ValidationError`` if it does not)."""
    return msgspec.convert({**envelope["data"], _OCCURRED_AT: envelope[_OCCURRED_AT]}, event_class)


def payload_fields(event_class: type[DomainEvent]) -> tuple[str, ...]:
    """The names in an envelope's ``data`` for events of this class, in declaration order."""
    return tuple(field.name for field in fields(event_class) if field.name != _OCCURRED_AT)


def envelope_type(event_class: type[DomainEvent]) -> type:
    """The envelope of this class's events as a dataclass, field for field: a schema to document it with.

    What the AsyncAPI document's payload schemas are generated from, so that they follow
    the class (``type`` and ``version`` as constants, ``data`` the payload's own fields).
    """
    hints = get_type_hints(event_class)
    data = make_dataclass(f"{event_class.__name__}Data", [(name, hints[name]) for name in payload_fields(event_class)])
    return make_dataclass(
        f"{event_class.__name__}Envelope",
        [
            ("id", UUID),
            ("type", Literal[event_class.type]),
            ("occurred_at", datetime),
            ("version", Literal[ENVELOPE_VERSION]),
            ("data", data),
        ],
    )
