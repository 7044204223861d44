"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from app.bootstrap import Container
from app.infrastructure.db.engine import ping

CheckStatus = Literal["ok", "error"]

#: Readiness must answer before a load balancer's own timeout, even with a dependency hung.
READINESS_CHECK_TIMEOUT_SECONDS = 1.0


class Liveness(msgspec.Struct):
    status: Literal["ok"] = "ok"


class Readiness(msgspec.Struct):
    status: CheckStatus
    checks: dict[str, CheckStatus]


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get("/live", summary="The process is serving")
    async def live(self) -> Liveness:
        return Liveness()

    @get(
        "/ready",
        summary="Every configured dependency answers",
        responses={503: ResponseSpec(data_container=Readiness, description="A dependency check failed")},
    )
    async def ready(self, container: NamedDependency[Container]) -> Response[Readiness]:
        checks: dict[str, CheckStatus] = {}
        try:
            await ping(container.engine, READINESS_CHECK_TIMEOUT_SECONDS)
            checks["database"] = "ok"
        except Exception:  # noqa: BLE001 - any failure is reported, not raised: this is the probe
            checks["database"] = "error"
        healthy = all(status == "ok" for status in checks.values())
        return Response(
            Readiness(status="ok" if healthy else "error", checks=checks), status_code=200 if healthy else 503
        )
