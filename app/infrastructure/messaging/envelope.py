"""The wire form of an event: the contract's envelope, JSON."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from app.domain.users.events import UserEvent

ENVELOPE_VERSION = 1


def envelope(event: UserEvent, event_id: UUID) -> dict[str, Any]:
    """``{id, type, occurred_at, version, data}``; ``data`` is the event without its timestamp."""
    data = msgspec.to_builtins(event)
    occurred_at = data.pop("occurred_at")
    return {"id": str(event_id), "type": event.type, "occurred_at": occurred_at, "version": ENVELOPE_VERSION,
            "data": data}  # fmt: skip
