"""What the AsyncAPI document says about both directions, the same for every broker.

The relay publishes through ``broker.publish``; the publishers declared from these
descriptions only document it.
"""

from __future__ import annotations

from collections.abc import Iterator

from app.infrastructure.messaging.publisher import DEAD_LETTER_QUEUE

INBOUND_DESCRIPTION = (
    "Inbound commands: user.deactivate {user_id, reason}, user.meta.merge {user_id, meta}. "
    "Envelope {id, type, occurred_at, version, data}; each id is applied once; poison goes to "
    f"{DEAD_LETTER_QUEUE} with an x-dead-letter-reason header."
)

_OUTBOUND_DATA = {
    "user.registered": "{user_id, email}",
    "user.profile_updated": "{user_id, changed}",
    "user.deactivated": "{user_id, reason}",
    "user.password_changed": "{user_id}",
    "user.role_changed": "{user_id, role}",
}


def outbound_descriptions() -> Iterator[tuple[str, str]]:
    """``(event type, description)`` for every event the service publishes."""
    for event_type, data in _OUTBOUND_DATA.items():
        yield (
            event_type,
            f"Envelope {{id, type, occurred_at, version, data}}; data = {data}. "
            "Persistent, message_id = envelope id, published at least once after commit.",
        )
