"""The job broker: a Redis stream when ``REDIS_URL`` is set, the API process itself otherwise.

Both honour the ``delay`` label (seconds to hold a message before it is delivered), which
is how retries back off, and both carry the same middlewares (``middleware.py``).
"""

from __future__ import annotations

import asyncio
import contextlib

from taskiq import AsyncBroker, BrokerMessage, InMemoryBroker

from app.infrastructure.config import Settings
from app.infrastructure.jobs.middleware import JobMetrics, LogContext, RetryWithBackoff, delay_of
from app.infrastructure.jobs.redis_stream import CONSUMER_GROUP, JOB_STREAM, RedisJobBroker, RedisJobResults

#: The stream's names and broker stay importable from here, where the broker is chosen.
__all__ = ["CONSUMER_GROUP", "JOB_STREAM", "InProcessJobBroker", "RedisJobBroker", "create_job_broker"]


class InProcessJobBroker(InMemoryBroker):
    """Embedded mode (no ``REDIS_URL``): a job runs in this process as soon as it is enqueued.

    A delayed message (a retry) is enqueued after its delay by a timer. Nothing survives
    the process: a retry still waiting when it stops is lost, the price of running
    without Redis, which suits development only. A stop waits ``shutdown_grace`` seconds
    for jobs already running.
    """

    def __init__(self, *, shutdown_grace: float = 5.0) -> None:
        super().__init__()
        self._shutdown_grace = shutdown_grace
        self._waiting: set[asyncio.Task[None]] = set()

    async def kick(self, message: BrokerMessage) -> None:
        delay = delay_of(message)
        if delay <= 0:
            await super().kick(message)
            return
        timer = asyncio.create_task(self._kick_later(message, delay))
        self._waiting.add(timer)
        timer.add_done_callback(self._waiting.discard)

    async def _kick_later(self, message: BrokerMessage, delay: float) -> None:
        await asyncio.sleep(delay)
        await super().kick(message)

    async def shutdown(self) -> None:
        for timer in self._waiting:
            timer.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._shutdown_grace):
                await self.wait_all()
        await super().shutdown()


def create_job_broker(settings: Settings) -> AsyncBroker:
    """The process's job broker, with its middlewares; no jobs yet (``definitions.Jobs``). Nothing connects here."""
    broker: AsyncBroker
    if settings.redis_url is None:
        broker = InProcessJobBroker()
    else:
        results = RedisJobResults(settings.redis_url, ttl_seconds=settings.job_result_ttl_seconds)
        broker = RedisJobBroker(settings.redis_url, redelivery_after=settings.job_redelivery_seconds)
        broker = broker.with_result_backend(results)
    if settings.tracing_enabled:
        # Taskiq's own: the trace is carried in the message's labels, a job's run continues it.
        from taskiq.middlewares.opentelemetry_middleware import OpenTelemetryMiddleware  # noqa: PLC0415

        broker = broker.with_middlewares(OpenTelemetryMiddleware())
    return broker.with_middlewares(
        LogContext(),
        JobMetrics(),
        RetryWithBackoff(
            max_attempts=settings.job_max_attempts,
            base_delay=settings.job_retry_base_seconds,
            max_delay=settings.job_retry_max_seconds,
            # The service's own store: it comes back or nothing works. (Not the mail server,
            # which may refuse one message for ever: its failures spend attempts.)
            outages=frozenset({"database"}),
        ),
    )
