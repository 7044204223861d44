"""Prometheus gauges of the process's connection pool: connections in use, the most it may open, and waiters.

A pool that runs out makes requests wait for a connection (up to ``DATABASE_TIMEOUT_SECONDS``,
then a 503): ``waiting`` above zero, or ``in use`` at ``max``, is saturation. The gauges are
sampled every few seconds by each serving process and job worker (``report_pool``) and added
up over the processes (multiprocess mode, ``livesum``).
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, QueuePool

IN_USE = Gauge("app_db_pool_in_use", "Database connections checked out of the pool", multiprocess_mode="livesum")
MAX = Gauge("app_db_pool_max", "Database connections the pool may hold open at most", multiprocess_mode="livesum")
WAITING = Gauge("app_db_pool_waiting", "Work waiting for a database connection", multiprocess_mode="livesum")
SAMPLE_SECONDS = 2.0
# SQLAlchemy names a pool's logger after its class's module, and keeps its own ("sqlalchemy.*")
# at warnings unless asked (echo_pool): the same for this one, or INFO would show every dispose.
logging.getLogger(__name__).setLevel(logging.WARNING)


class MeasuredPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio pool, counting who is waiting for a connection (which the pool keeps to itself).

    ``_do_get`` is the pool's override point for taking a connection; it blocks while the
    pool is exhausted, so the calls inside it are the waiters (a call that finds a connection
    at once is counted for that instant only). A plain counter: sampled, not written per call.
    """

    waiting = 0

    def _do_get(self) -> ConnectionPoolEntry:
        self.waiting += 1
        try:
            return super()._do_get()
        finally:
            self.waiting -= 1


def sample(engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool
    if isinstance(pool, QueuePool):
        IN_USE.set(pool.checkedout())
        MAX.set(pool.size() + max(pool._max_overflow, 0))  # The bound create_engine set; no public accessor.
    WAITING.set(pool.waiting if isinstance(pool, MeasuredPool) else 0)


async def report_pool(engine: AsyncEngine) -> None:
    """Sample the gauges until cancelled."""
    while True:
        sample(engine)
        await asyncio.sleep(SAMPLE_SECONDS)
