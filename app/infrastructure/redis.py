"""Redis: one client (one connection pool) per process, bounded waits everywhere.

Like the database engine, every wait has a limit (``REDIS_TIMEOUT_SECONDS`` for
connecting and for each reply), so that a Redis outage turns into fast failures that
callers can handle, never into requests piling up behind a hung socket.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from app.infrastructure.config import Settings

#: A pooled connection idle for longer than this is PINGed before it is reused, so one
#: that died quietly (Redis restarted, a NAT dropped it) is replaced instead of failing.
HEALTH_CHECK_INTERVAL_SECONDS = 15


def create_redis(settings: Settings) -> Redis | None:
    """The process's Redis client, or None when ``REDIS_URL`` is not set.

    Nothing connects here: the pool opens connections on first use.
    """
    if not settings.redis_url:
        return None
    timeout = settings.redis_timeout_seconds
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS,
        # Never retry a timeout: a slow Redis must cost one timeout, not a multiple of it.
        # (This is what redis-py's deprecated ``retry_on_timeout=False`` meant.) A dropped
        # connection is retried once, at once, on a fresh connection: that is a pooled
        # connection that died while Redis restarted, and the retry is what recovers.
        retry=Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
    )


async def ping_redis(client: Redis, timeout: float) -> None:  # noqa: ASYNC109 - a probe sets its own bound
    """One PING round trip, failing within ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        if not await client.ping():
            raise RedisError("PING was not answered with PONG")
