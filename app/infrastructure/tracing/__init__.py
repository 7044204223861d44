"""Tracing with OpenTelemetry: off unless an OTLP endpoint is set, and free when off.

Nothing here is imported while tracing is off: each place that instruments something
checks ``Settings.tracing_enabled`` and only then imports what it needs — the composition
root (``provider``, ``events``, ``hashing``), the message broker (``messaging``) and the
logging set-up from this package; the HTTP app, the job broker and the gRPC server their
frameworks' own instrumentation, once the composition root has started tracing. So a
process without an endpoint loads no module of OpenTelemetry and does no per-request work
for it (tests/test_startup_imports.py holds it to that).

- ``provider``: the process's tracer provider and OTLP/HTTP exporter, SQL statements as
  spans, and the log processor that stamps ``trace_id`` and ``span_id`` on log lines;
- ``events``: the trace context an outbox row keeps, and the spans of its publication;
- ``hashing``: password hashing (argon2) as a span of its own;
- ``messaging``: FastStream's telemetry middleware for the broker in use.
"""

import sys

from app import OPENTELEMETRY_PROBES

# Tracing is on: what app/__init__.py marked absent is importable again.
for _module in OPENTELEMETRY_PROBES:
    if _module in sys.modules and sys.modules[_module] is None:
        del sys.modules[_module]
