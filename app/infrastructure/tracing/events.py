"""The outbox's ``EventTracing``: a request's trace context kept with its events, and continued on publication."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind

from app.infrastructure.outbox.tracing import TraceHeaders

_tracer = trace.get_tracer("app.outbox")


class OutboxTracing:
    def current(self) -> dict[str, str] | None:
        headers: dict[str, str] = {}
        propagate.inject(headers)
        return headers or None

    @contextmanager
    def handing_over(
        self, destination: str, events: Sequence[tuple[str, TraceHeaders | None]]
    ) -> Iterator[list[dict[str, str]]]:
        """One producer span per event, child of the context stored with it (a root of its own if none was)."""
        spans = [
            _tracer.start_span(
                f"{event_type} publish",
                context=propagate.extract(stored) if stored else context.Context(),
                kind=SpanKind.PRODUCER,
                attributes={"messaging.operation.type": "publish", "messaging.destination.name": destination},
            )
            for event_type, stored in events
        ]
        try:
            headers: list[dict[str, str]] = []
            for span in spans:
                carrier: dict[str, str] = {}
                propagate.inject(carrier, context=trace.set_span_in_context(span))
                headers.append(carrier)
            yield headers
        finally:
            for span in spans:
                span.end()

    def untraced(self) -> AbstractContextManager[None]:
        return suppress_instrumentation()

    @contextmanager
    def continued(self, headers: TraceHeaders) -> Iterator[None]:
        # The extracted context is a fresh one, without the suppression of ``untraced``.
        token = context.attach(propagate.extract(headers))
        try:
            yield
        finally:
            context.detach(token)
