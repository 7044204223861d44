"""The gRPC server process (``just grpc``): the ``app.v1`` services, health, reflection.

:class:`GrpcServer` is the one factory, used by this process and by the tests. On
SIGTERM or SIGINT the process stops gracefully: health turns ``NOT_SERVING``, new calls
are refused, and calls already running get ``GRPC_SHUTDOWN_GRACE_SECONDS`` to finish
before they are cancelled. Like every serving process, it also relays the outbox. Its
metrics (the calls by method and code, ``app_grpc_*``, the pool and the outbox) are on
``HOST:GRPC_METRICS_PORT/metrics``.
"""

from __future__ import annotations

import asyncio
import signal

import grpc.aio
import structlog
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from app.bootstrap import Container, build_container
from app.infrastructure.config import Settings, load_settings_or_exit
from app.infrastructure.logging import configure_logging
from app.infrastructure.setting_values import trusted_proxies
from app.interfaces.grpc.health import DependencyHealth
from app.interfaces.grpc.interceptors import (
    AuthenticationInterceptor,
    ErrorInterceptor,
    RateLimitInterceptor,
    RequestLogInterceptor,
)
from app.interfaces.grpc.services import AuthService, UserService
from app.interfaces.grpc.task_service import TaskService
from app.interfaces.grpc.v1 import auth_pb2, auth_pb2_grpc, tasks_pb2, tasks_pb2_grpc, users_pb2, users_pb2_grpc
from app.interfaces.lifecycle import serving
from app.interfaces.prometheus import metrics_served

log = structlog.get_logger("app.grpc")

AUTH_SERVICE = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name
USER_SERVICE = users_pb2.DESCRIPTOR.services_by_name["UserService"].full_name
TASK_SERVICE = tasks_pb2.DESCRIPTOR.services_by_name["TaskService"].full_name
#: The ``app.v1`` services, and those of them that need an authenticated caller.
APP_SERVICES = (AUTH_SERVICE, USER_SERVICE, TASK_SERVICE)
AUTHENTICATED_SERVICES = (USER_SERVICE, TASK_SERVICE)
#: How often the health service re-probes the dependencies for its watchers.
HEALTH_REFRESH_SECONDS = 5.0


class GrpcServer:
    def __init__(self, settings: Settings, container: Container) -> None:
        self.health = DependencyHealth(container, APP_SERVICES)
        trusted = trusted_proxies(settings.forwarded_allow_ips)
        interceptors: list[grpc.aio.ServerInterceptor] = [
            RequestLogInterceptor(),
            ErrorInterceptor(services=APP_SERVICES, exposes_internals=settings.exposes_internals),
            RateLimitInterceptor(container.auth_rate_limiter, trusted, services=(AUTH_SERVICE,)),
            AuthenticationInterceptor(container.auth_queries, services=AUTHENTICATED_SERVICES),
        ]
        if settings.tracing_enabled:
            # Outermost: each call a span, continuing the trace of its ``traceparent`` metadata;
            # but the health checks, which probes make every few seconds.
            from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters  # noqa: PLC0415 - only when on

            not_health = filters.negate(filters.health_check())
            interceptors.insert(0, aio_server_interceptor(filter_=not_health))  # type: ignore[no-untyped-call]
        self._server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                # The REST body limit: a larger message is refused (RESOURCE_EXHAUSTED) before it is parsed.
                ("grpc.max_receive_message_length", settings.request_max_body_bytes),
                # A port another process holds is an error at start, not a silently shared listener.
                ("grpc.so_reuseport", 0),
            ],
        )
        auth_service = AuthService(container.users, container.auth, trusted)
        auth_pb2_grpc.add_AuthServiceServicer_to_server(auth_service, self._server)
        users_pb2_grpc.add_UserServiceServicer_to_server(UserService(container.administration), self._server)
        tasks_pb2_grpc.add_TaskServiceServicer_to_server(TaskService(container.tasks), self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        reflection.enable_server_reflection((*APP_SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server)

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (port 0: any free one) and return the port."""
        bound = self._server.add_insecure_port(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        await self._server.start()
        return bound

    async def stop(self, grace_seconds: float) -> None:
        """Refuse new calls at once; cancel those still running after ``grace_seconds``."""
        await self.health.enter_graceful_shutdown()
        await self._server.stop(grace_seconds)


async def serve(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully."""
    container = build_container(settings)
    server = GrpcServer(settings, container)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Repeated signals (a supervisor and a process group may both send one) change nothing.
        loop.add_signal_handler(signum, stopping.set)
    async with serving(container, server.health.keep_current(HEALTH_REFRESH_SECONDS)):
        port = await server.start(settings.host, settings.grpc_port)
        log.info("grpc_serving", host=settings.host, port=port)
        await stopping.wait()
        log.info("grpc_stopping", grace_seconds=settings.grpc_shutdown_grace_seconds)
        await server.stop(settings.grpc_shutdown_grace_seconds)
    log.info("grpc_stopped")


def main() -> None:
    settings = load_settings_or_exit()
    configure_logging(settings)
    with metrics_served(settings.host, settings.grpc_metrics_port, "GRPC_METRICS_PORT"):
        asyncio.run(serve(settings))
