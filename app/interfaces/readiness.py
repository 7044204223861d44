"""Readiness: one bounded probe per configured dependency, shared by every serving interface.

``GET /health/ready`` and the gRPC health service report the same checks, so a load
balancer in front of either sees the same answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

from app.bootstrap import Container
from app.infrastructure.db.engine import ping
from app.infrastructure.messaging.broker import ping_broker
from app.infrastructure.redis import ping_redis

CheckStatus = Literal["ok", "error"]

#: Readiness must answer before a load balancer's own timeout, even with a dependency hung.
READINESS_CHECK_TIMEOUT_SECONDS = 1.0


async def check_dependencies(container: Container) -> dict[str, CheckStatus]:
    """Every configured dependency's status, named ``database``, ``redis``, ``broker``; probed concurrently."""
    probes = _probes(container)
    results = await asyncio.gather(*(_check(probe) for probe in probes.values()))
    return dict(zip(probes, results, strict=True))


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
