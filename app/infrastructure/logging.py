"""structlog set-up: JSON lines for machines, coloured console lines for people.

Context bound with ``structlog.contextvars`` (the request id, the user id) is merged into
every event logged while handling that request, whichever module logs it; with tracing on,
so are the current span's ``trace_id`` and ``span_id``. The libraries' own lines (Taskiq's,
FastStream's, SQLAlchemy's warnings…), logged through the standard ``logging`` module, go
through the same processors and renderer, so that with ``LOG_FORMAT=json`` every line of a
process is one JSON object, and carries the same context.
"""

from __future__ import annotations

import logging
import sys

import structlog

from app.infrastructure.config import Settings


class _LibraryLines(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler this module gives the root logger: known by its class, so a second set-up replaces it."""


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping()[settings.log_level]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[structlog.types.Processor] = [structlog.contextvars.merge_contextvars]
    if settings.tracing_enabled:
        from app.infrastructure.tracing.provider import add_trace_ids  # noqa: PLC0415 - OpenTelemetry only when on

        shared.append(add_trace_ids)
    shared += [structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True)]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    _route_library_lines(level, shared, renderer)


def _route_library_lines(
    level: int, shared: list[structlog.types.Processor], renderer: structlog.types.Processor
) -> None:
    """The standard library's log records, rendered by structlog: ``event`` is the message, ``logger`` its name.

    As ``logging.basicConfig`` would, only when nothing else handles the root logger (a test
    runner capturing logs keeps its own handlers).
    """
    root = logging.getLogger()
    for handler in [handler for handler in root.handlers if isinstance(handler, _LibraryLines)]:
        root.removeHandler(handler)
    if root.handlers:
        return
    handler = _LibraryLines(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root.addHandler(handler)
    root.setLevel(level)
