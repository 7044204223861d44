"""What every serving process (HTTP, gRPC, consumer) runs beside its own work, and how it ends.

Each of them relays the outbox (relays take turns, see ``OutboxRelay``), so committed
events leave whichever processes happen to be deployed, imports the job stack once it
serves rather than at its start (``DeferredJobs.warm_up``), and samples its connection
pool's gauges (``report_pool``). A garbage collector paused while the process built itself
(``app.interfaces.collector``) resumes as it begins to serve. When the process stops, the
background tasks are cancelled and awaited before the container closes the pools they use.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from app.bootstrap import Container
from app.infrastructure.db.pool_metrics import report_pool
from app.interfaces.collector import resume_collector


@contextlib.asynccontextmanager
async def serving(container: Container, *background: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Relay the outbox, import the job stack (and run ``background``) while the body runs; then stop and close."""
    resume_collector()
    tasks = [
        asyncio.create_task(container.relay.run(), name="outbox-relay"),
        asyncio.create_task(container.deferred_jobs.warm_up(), name="job-stack-import"),
        asyncio.create_task(report_pool(container.engine), name="pool-metrics"),
    ]
    tasks += [asyncio.create_task(work) for work in background]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await container.close()
