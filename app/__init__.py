"""A Litestar service template on an onion architecture: domain, application, infrastructure, interfaces."""

import sys

#: Modules that libraries import whenever OpenTelemetry is installed, tracing on or off:
#: redis-py (8 and later) the metrics API and SDK, for client metrics this service does not
#: use; Litestar its OpenTelemetry plugin, at every app's creation, to find its middleware;
#: FastStream the semantic conventions, to say whether it could trace.
#: Installed for tracing, they would load in every process and lengthen every start. Marked
#: absent here, before anything imports those libraries, they are skipped as if missing (each
#: catches the ``ImportError``); the tracing package (``app.infrastructure.tracing``), imported
#: only with tracing on, lifts the marks. (A process that imported them before this package
#: keeps them.)
OPENTELEMETRY_PROBES = (
    "opentelemetry.metrics",
    "opentelemetry.sdk.metrics",
    "opentelemetry.semconv",
    "litestar.plugins.opentelemetry",
)
for _module in OPENTELEMETRY_PROBES:
    sys.modules.setdefault(_module, None)  # type: ignore[arg-type]
