"""The Redis client against a real server: bounded failures while it is down, recovery after."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.infrastructure.redis import create_redis, ping_redis
from tests.conftest import make_settings
from tests.support.servers import RedisServer

#: A ping to a server that is down must fail within this, whatever the failure looks like.
FAILS_WITHIN_SECONDS = 1.0
PING_TIMEOUT_SECONDS = 1.0


def client_for(url: str, **overrides: str) -> Redis:
    client = create_redis(make_settings("sqlite+aiosqlite:///:memory:", REDIS_URL=url, **overrides))
    assert client is not None
    return client


@pytest.fixture
async def client(stoppable_redis: RedisServer) -> AsyncIterator[Redis]:
    client = client_for(stoppable_redis.url)
    yield client
    await client.aclose()


async def assert_ping_fails_fast(client: Redis) -> None:
    started = time.perf_counter()
    with pytest.raises((RedisError, TimeoutError)):
        await ping_redis(client, PING_TIMEOUT_SECONDS)
    assert time.perf_counter() - started < FAILS_WITHIN_SECONDS


def test_no_url_means_no_client() -> None:
    assert create_redis(make_settings("sqlite+aiosqlite:///:memory:")) is None


def test_timeouts_come_from_the_setting() -> None:
    client = client_for("redis://127.0.0.1:6379/0", REDIS_TIMEOUT_SECONDS="0.25")
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (0.25, 0.25)
    assert kwargs["health_check_interval"] > 0


async def test_ping_answers_and_commands_work(client: Redis) -> None:
    await ping_redis(client, PING_TIMEOUT_SECONDS)
    await client.set("greeting", "hello", ex=10)
    assert await client.get("greeting") == b"hello"


async def test_a_stopped_server_fails_fast_and_is_used_again_after_a_restart(
    client: Redis, stoppable_redis: RedisServer
) -> None:
    await ping_redis(client, PING_TIMEOUT_SECONDS)  # A pooled connection now exists.

    stoppable_redis.stop()
    for _ in range(3):  # The dead pooled connection, then fresh connection attempts.
        await assert_ping_fails_fast(client)

    stoppable_redis.start()
    await ping_redis(client, PING_TIMEOUT_SECONDS)
    await client.set("after-restart", "1")
    assert await client.get("after-restart") == b"1"


async def test_a_server_that_never_answers_fails_within_the_setting(silent_port: int) -> None:
    """The client's own socket timeout bounds a hung server, even under a laxer caller bound."""
    client = client_for(f"redis://127.0.0.1:{silent_port}/0", REDIS_TIMEOUT_SECONDS="0.3")
    try:
        started = time.perf_counter()
        with pytest.raises(RedisError):
            await ping_redis(client, timeout=5.0)
        assert time.perf_counter() - started < FAILS_WITHIN_SECONDS
    finally:
        await client.aclose()
