"""A separate app called in-process, for tests that need settings of their own, and its readiness."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from httpx import ASGITransport, AsyncClient, Response

from app.bootstrap import Container
from app.interfaces.http.app import create_app


@asynccontextmanager
async def in_process_client(container: Container) -> AsyncIterator[AsyncClient]:
    """A client of the app built on ``container`` (closed afterwards), like the session ``client``."""
    try:
        transport = ASGITransport(app=create_app(container.settings, container))  # type: ignore[arg-type]
        async with AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            yield client
    finally:
        await container.close()


async def ready_within(client: AsyncClient, within: float) -> Response:
    """``GET /health/ready``, asserting that it answered within ``within`` seconds, whatever it said."""
    started = time.perf_counter()
    response = await client.get("/health/ready")
    assert time.perf_counter() - started < within
    return response
