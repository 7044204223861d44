"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from app.bootstrap import Container
from app.infrastructure.db.engine import ping
from app.infrastructure.messaging.broker import ping_broker
from app.infrastructure.redis import ping_redis

CheckStatus = Literal["ok", "error"]

#: Readiness must answer before a load balancer's own timeout, even with a dependency hung.
READINESS_CHECK_TIMEOUT_SECONDS = 1.0


class Liveness(msgspec.Struct):
    status: Literal["ok"] = "ok"


class Readiness(msgspec.Struct):
    status: CheckStatus
    checks: dict[str, CheckStatus]


async def _check(probe: Callable[[float], Awaitable[None]]) -> CheckStatus:
    """Run one probe under the readiness bound; any failure is reported, not raised."""
    try:
        # The probe bounds itself; this bound also covers a probe that forgets to.
        async with asyncio.timeout(READINESS_CHECK_TIMEOUT_SECONDS):
            await probe(READINESS_CHECK_TIMEOUT_SECONDS)
    except Exception:  # noqa: BLE001 - this is the probe: every failure is an "error" entry
        return "error"
    return "ok"


def _probes(container: Container) -> dict[str, Callable[[float], Awaitable[None]]]:
    """One probe per configured dependency, named as in the response."""
    probes: dict[str, Callable[[float], Awaitable[None]]] = {
        "database": lambda timeout: ping(container.engine, timeout),
    }
    if (redis := container.redis) is not None:
        probes["redis"] = lambda timeout: ping_redis(redis, timeout)
    if (broker := container.broker) is not None:
        # The first probe may be what connects the broker; that too is bounded.
        probes["broker"] = lambda timeout: ping_broker(broker, timeout)
    return probes


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get("/live", summary="The process is serving")
    async def live(self) -> Liveness:
        return Liveness()

    @get(
        "/ready",
        summary="Every configured dependency answers",
        description="One check per configured dependency (`database`; `redis` when `REDIS_URL` is set; "
        "`broker` when `BROKER_URL` is), "
        f"run concurrently, each bounded by {READINESS_CHECK_TIMEOUT_SECONDS:g} s.",
        responses={503: ResponseSpec(data_container=Readiness, description="A dependency check failed")},
    )
    async def ready(self, container: NamedDependency[Container]) -> Response[Readiness]:
        probes = _probes(container)
        results = await asyncio.gather(*(_check(probe) for probe in probes.values()))
        checks: dict[str, CheckStatus] = dict(zip(probes, results, strict=True))
        healthy = all(status == "ok" for status in checks.values())
        return Response(
            Readiness(status="ok" if healthy else "error", checks=checks), status_code=200 if healthy else 503
        )
