"""structlog set-up: JSON lines for machines, coloured console lines for people.

Context bound with ``structlog.contextvars`` (the request id, the user id) is merged into
every event logged while handling that request, whichever module logs it; with tracing on,
so are the current span's ``trace_id`` and ``span_id``.
"""

from __future__ import annotations

import logging
import sys

import structlog

from app.infrastructure.config import Settings


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping()[settings.log_level]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    processors: list[structlog.types.Processor] = [structlog.contextvars.merge_contextvars]
    if settings.tracing_enabled:
        from app.infrastructure.tracing.provider import add_trace_ids  # noqa: PLC0415 - OpenTelemetry only when on

        processors.append(add_trace_ids)
    structlog.configure(
        processors=[
            *processors,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
