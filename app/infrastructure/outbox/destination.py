"""What the relay hands events to: a destination takes a batch of envelopes and says how many it took."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.infrastructure.outbox.tracing import TraceHeaders


@dataclass(frozen=True, slots=True)
class Confirmed:
    """What became of a batch: the first ``count`` envelopes are confirmed; ``error`` stopped the rest."""

    count: int
    error: Exception | None = None


class EventPublisher(Protocol):
    """A destination: the broker's publisher (``app.infrastructure.messaging``) or this service's subscribers."""

    async def publish_batch(
        self, envelopes: Sequence[dict[str, Any]], headers: Sequence[TraceHeaders] | None = None
    ) -> Confirmed:
        """Hand envelopes over in order; say how many, from the first, were taken (confirmed).

        ``headers`` (tracing on): each envelope's trace context, for its message to carry.
        """
