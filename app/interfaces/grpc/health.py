"""``grpc.health.v1.Health`` reporting what ``GET /health/ready`` reports: the dependencies.

The server ("") and each application service are ``SERVING`` while every configured
dependency (database; Redis and the broker when configured) answers its readiness
probe, ``NOT_SERVING`` otherwise. ``Check`` probes on every call; ``Watch`` streams the
status as :meth:`DependencyHealth.keep_current` and the checks refresh it. Once the server
is shutting down, everything reads ``NOT_SERVING`` for good.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import structlog
from grpc_health.v1 import health, health_pb2

from app.bootstrap import Container
from app.interfaces.grpc.calls import Context
from app.interfaces.readiness import check_dependencies

log = structlog.get_logger("app.health")

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class DependencyHealth(health.aio.HealthServicer):
    def __init__(self, container: Container, services: Iterable[str]) -> None:
        super().__init__()
        self._container = container
        self._services = ("", *services)
        self._healthy: bool | None = None

    async def refresh(self) -> None:
        checks = await check_dependencies(self._container)
        healthy = all(status == "ok" for status in checks.values())
        if healthy != self._healthy:  # log changes, not every probe
            report = log.info if healthy else log.warning
            report("dependencies_checked", healthy=healthy, **checks)
            self._healthy = healthy
        for service in self._services:
            await self.set(service, SERVING if healthy else NOT_SERVING)

    async def Check(self, request: health_pb2.HealthCheckRequest, context: Context) -> health_pb2.HealthCheckResponse:
        if request.service in self._services:
            await self.refresh()
        return await super().Check(request, context)

    async def keep_current(self, interval_seconds: float) -> None:
        """Refresh forever, so that watchers hear of an outage without anyone checking."""
        while True:
            await self.refresh()
            await asyncio.sleep(interval_seconds)
