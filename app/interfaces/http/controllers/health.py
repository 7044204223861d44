"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from app.bootstrap import Container
from app.interfaces.readiness import READINESS_CHECK_TIMEOUT_SECONDS, CheckStatus, check_dependencies


class Liveness(msgspec.Struct):
    status: Literal["ok"] = "ok"


class Readiness(msgspec.Struct):
    status: CheckStatus
    checks: dict[str, CheckStatus]


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get("/live", operation_id="live", summary="The process is serving")
    async def live(self) -> Liveness:
        return Liveness()

    @get(
        "/ready",
        operation_id="ready",
        summary="Every configured dependency answers",
        description="One check per configured dependency (`database`; `redis` when `REDIS_URL` is set; "
        "`broker` when `BROKER_URL` is), "
        f"run concurrently, each bounded by {READINESS_CHECK_TIMEOUT_SECONDS:g} s.",
        responses={503: ResponseSpec(data_container=Readiness, description="A dependency check failed")},
    )
    async def ready(self, container: NamedDependency[Container]) -> Response[Readiness]:
        checks = await check_dependencies(container)
        healthy = all(status == "ok" for status in checks.values())
        return Response(
            Readiness(status="ok" if healthy else "error", checks=checks), status_code=200 if healthy else 503
        )
