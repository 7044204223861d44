"""What the outbox needs of tracing, as a port: it stays generic, and imports no tracing library.

With tracing on, the composition root hands the writer and the relay an ``EventTracing``
(``app.infrastructure.tracing.events``); with it off, ``None``, and nothing is done. The
context travels as W3C trace-context headers (``traceparent``, ``tracestate``): stored
with the row when the event is written, so that the relay, whichever process it runs in
and however late, publishes the event in the trace of the request that caused it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

#: W3C trace-context headers, as stored with a row and sent with a message.
TraceHeaders = Mapping[str, str]


class EventTracing(Protocol):
    def current(self) -> dict[str, str] | None:
        """The current trace context as headers, to store with the events written now (None: none)."""

    def handing_over(
        self, destination: str, events: Sequence[tuple[str, TraceHeaders | None]]
    ) -> AbstractContextManager[list[dict[str, str]]]:
        """A span for each ``(type, stored context)`` handed to ``destination``, each in its event's trace.

        Yields the headers of each span, in order, for the messages to carry; the spans end
        when the block does.
        """

    def untraced(self) -> AbstractContextManager[None]:
        """Nothing done inside is traced (the relay's polling: a trace a second of no one's work)."""

    def continued(self, headers: TraceHeaders) -> AbstractContextManager[None]:
        """The trace of ``headers`` is the current one inside the block (what is started there continues it),
        even inside ``untraced``."""
