"""The process's tracer provider: spans batched and exported over OTLP/HTTP (protobuf).

Started once per process (``start_tracing``, from the composition root), before the
database engine is made, so that SQLAlchemy's instrumentation sees the engine created.
The SDK reads the rest of the standard variables itself: the sampler
(``OTEL_TRACES_SAMPLER``, ``OTEL_TRACES_SAMPLER_ARG``), exporter headers and timeout
(``OTEL_EXPORTER_OTLP_HEADERS`` …), the batch processor's bounds (``OTEL_BSP_*``) and
extra resource attributes (``OTEL_RESOURCE_ATTRIBUTES``). Trace context travels as W3C
``traceparent``/``tracestate``, OpenTelemetry's default propagator.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from app.infrastructure.config import Settings


def start_tracing(settings: Settings) -> None:
    """Install the tracer provider and instrument SQLAlchemy, once per process (later calls change nothing)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    endpoint = settings.otlp_traces_url
    if endpoint is None:
        raise RuntimeError("tracing is off: no OTLP endpoint is set, or OTEL_SDK_DISABLED is true")
    resource = Resource.create({SERVICE_NAME: settings.otel_service_name, SERVICE_VERSION: settings.api_version})
    provider = TracerProvider(resource=resource)  # The sampler comes from OTEL_TRACES_SAMPLER.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    # Every engine made from now on runs its statements in spans (app/infrastructure/db/engine.py
    # calls create_async_engine through its module, which this wraps).
    SQLAlchemyInstrumentor().instrument(tracer_provider=provider)


def add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current span's ``trace_id`` and ``span_id`` (hex, as OTLP backends show them).

    Outside any span the line keeps what the context bound (the access log line, written
    once the request's span ended, has the request's ids bound by the HTTP app).
    """
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = trace.format_trace_id(context.trace_id)
        event["span_id"] = trace.format_span_id(context.span_id)
    return event
