"""CPU time of one request served in-process: the application's own cost, with no network or other load.

The app is built from the run's settings in this process and called through httpx's ASGI
transport; each request's CPU time (``time.process_time``) is counted, so what other
processes on the machine do changes the figure little. The client's share (httpx building
the request and reading the response) is included: a fraction of a millisecond.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from httpx import ASGITransport, AsyncClient

from app.bootstrap import build_container
from app.infrastructure.config import Settings
from app.interfaces.http.app import create_app
from bench.measure import Result, percentiles

#: Requests made and dropped first: pools filled, statements prepared, caches warm.
WARM_UP = 5


def request_cpu(settings: Settings, path: str, params: dict[str, str], token: str, requests: int) -> Result:
    """``requests`` GETs of ``path`` after a warm-up: latency percentiles, and the median CPU time per request."""
    return asyncio.run(_measure(settings, path, params, token, requests))


async def _measure(settings: Settings, path: str, params: dict[str, str], token: str, requests: int) -> Result:
    container = build_container(settings)
    app = create_app(settings, container)
    headers = {"Authorization": f"Bearer {token}"}
    cpu_ms: list[float] = []
    latency_ms: list[float] = []
    errors = 0
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://bench") as client:  # type: ignore[arg-type]
            for attempt in range(WARM_UP + requests):
                started, cpu = time.perf_counter(), time.process_time()
                response = await client.get(path, params=params, headers=headers)
                cpu, elapsed = time.process_time() - cpu, time.perf_counter() - started
                if attempt < WARM_UP:
                    continue
                errors += response.status_code != 200
                cpu_ms.append(1000 * cpu)
                latency_ms.append(1000 * elapsed)
    finally:
        await container.close()
    p50_ms, p99_ms = percentiles(latency_ms)
    return Result(requests, sum(latency_ms) / 1000, errors, p50_ms, p99_ms, cpu_ms=statistics.median(cpu_ms))
