"""What every serving process (HTTP, gRPC, consumer) runs beside its own work, and how it ends.

Each of them relays the outbox (relays take turns, see ``OutboxRelay``), so committed
events leave whichever processes happen to be deployed. When the process stops, the
background tasks are cancelled and awaited before the container closes the pools they use.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from app.bootstrap import Container


@contextlib.asynccontextmanager
async def serving(container: Container, *background: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Relay the outbox (and run ``background``) while the body runs; then stop them and close ``container``."""
    tasks = [asyncio.create_task(container.relay.run(), name="outbox-relay")]
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
