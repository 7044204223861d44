"""HTTP requests as spans, with Litestar's OpenTelemetry plugin; imported only with tracing on.

Litestar runs the plugin's middleware outside its router, so the span starts before the
route is known: it is named by the method alone, then renamed ``GET /api/v1/users/{user_id}``
(the route template, never the raw path, so that ids do not make span names) once the
route matched. An incoming ``traceparent`` header continues its trace. The request's ids
are bound to the log context too, so that the access log line, written once the span has
ended, carries them like every line logged during the request.
"""

from __future__ import annotations

from typing import Any

import structlog
from litestar.config.app import AppConfig
from litestar.enums import ScopeType
from litestar.plugins import InitPluginProtocol
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.types import ASGIApp, Receive, Scope, Send
from opentelemetry import trace
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from opentelemetry.trace import Span

from app.interfaces.http.controllers.health import HealthController
from app.interfaces.http.metrics import METRICS_PATH


def tracing_plugins() -> list[object]:
    """The plugins that make each request a span (but the scrapes of ``/metrics`` and the health probes)."""
    config = OpenTelemetryConfig(
        scope_span_details_extractor=_method_only,
        server_request_hook_handler=_bind_trace_ids,
        exclude_spans=["receive", "send"],  # One span per request; its ASGI messages are noise.
        # Scrapes and probes are no one's requests: every few seconds each, they would bury the
        # traces worth reading. Matched on the raw path: the middleware runs before routing.
        exclude=[f"^{METRICS_PATH}$", f"^{HealthController.path}/"],
        scopes={ScopeType.HTTP},
    )
    return [OpenTelemetryPlugin(config), RouteNamedSpans()]


class RouteNamedSpans(InitPluginProtocol):
    """Renames the request's span after its route template, from inside the router."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.middleware.append(_name_after_route)
        return app_config


def _name_after_route(app: ASGIApp) -> ASGIApp:
    async def named(scope: Scope, receive: Receive, send: Send) -> None:
        route = scope["path_template"]
        span = trace.get_current_span()
        span.update_name(f"{scope.get('method', scope['type'])} {route}")
        span.set_attribute(HTTP_ROUTE, route)
        await app(scope, receive, send)

    return named


def _method_only(scope: Scope) -> tuple[str, dict[str, Any]]:
    return str(scope.get("method", scope["type"])), {}


def _bind_trace_ids(span: Span, _: dict[str, Any]) -> None:
    context = span.get_span_context()
    structlog.contextvars.bind_contextvars(
        trace_id=trace.format_trace_id(context.trace_id), span_id=trace.format_span_id(context.span_id)
    )
