"""Auth routes are rate limited per client IP; with Redis the budget is shared by every instance."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from httpx import ASGITransport, AsyncClient, Response

from app.bootstrap import build_container
from app.interfaces.http.app import create_app
from tests.conftest import make_settings
from tests.e2e.helpers import PASSWORD, assert_problem
from tests.support.servers import RedisServer

LIMIT = 5
#: A day-long window: a test never straddles a window boundary.
RATE = f"{LIMIT}/day"

AppFactory = Callable[[], AbstractAsyncContextManager[AsyncClient]]


def client_ip() -> str:
    """A fresh client address per test: Redis outlives tests, so budgets must not be shared."""
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"


def instances(database_url: str, ip: str, **overrides: str) -> AppFactory:
    @asynccontextmanager
    async def instance() -> AsyncIterator[AsyncClient]:
        settings = make_settings(database_url, RATE_LIMIT_AUTH=RATE, **overrides)
        container = build_container(settings)
        transport = ASGITransport(app=create_app(settings, container), client=(ip, 40000))  # type: ignore[arg-type]
        try:
            async with AsyncClient(transport=transport, base_url="http://testserver.local") as client:
                yield client
        finally:
            await container.close()

    return instance


async def attempt(client: AsyncClient, route: int) -> Response:
    """Rotate over the limited routes: they share one budget."""
    if route % 3 == 0:
        return await client.post("/api/v1/auth/tokens", json={"email": "x@example.com", "password": PASSWORD})
    if route % 3 == 1:
        return await client.post("/api/v1/auth/token", data={"username": "x@example.com", "password": PASSWORD})
    return await client.post("/api/v1/auth/tokens/refresh", json={"refresh_token": "nope"})


def assert_limited(response: Response) -> None:
    assert_problem(response, 429, "rate_limited")
    assert 0 < int(response.headers["retry-after"]) <= 86_400


async def test_the_budget_is_shared_by_instances_through_redis(database_url: str, redis_url: str) -> None:
    new_instance = instances(database_url, client_ip(), REDIS_URL=redis_url)
    async with new_instance() as first, new_instance() as second:
        answers = [await attempt(first if i % 2 else second, i) for i in range(LIMIT)]
        assert all(r.status_code == 401 for r in answers)

        assert_limited(await attempt(first, LIMIT))
        assert_limited(await attempt(second, LIMIT + 1))
        signup = await second.post("/api/v1/auth/sign-up", json={"email": "new@example.com", "password": PASSWORD})
        assert_limited(signup)


async def test_other_clients_keep_their_own_budget(database_url: str, redis_url: str) -> None:
    async with instances(database_url, client_ip(), REDIS_URL=redis_url)() as noisy:
        for i in range(LIMIT + 1):
            await attempt(noisy, i)
        assert_limited(await attempt(noisy, 0))
    async with instances(database_url, client_ip(), REDIS_URL=redis_url)() as quiet:
        assert (await attempt(quiet, 0)).status_code == 401


async def test_without_redis_each_process_counts_in_memory(database_url: str) -> None:
    async with instances(database_url, client_ip())() as client:
        for i in range(LIMIT):
            assert (await attempt(client, i)).status_code == 401
        assert_limited(await attempt(client, LIMIT))


async def test_unlimited_routes_are_not_counted(database_url: str, redis_url: str) -> None:
    async with instances(database_url, client_ip(), REDIS_URL=redis_url)() as client:
        for _ in range(LIMIT * 2):
            assert (await client.get("/health/live")).status_code == 200
        assert (await attempt(client, 0)).status_code == 401


@pytest.mark.usefixtures("clean_database")
async def test_a_redis_outage_degrades_to_per_process_limits(database_url: str, stoppable_redis: RedisServer) -> None:
    """Redis down: no 500s, sign-in still works, and the limit still holds within the process."""
    async with instances(database_url, client_ip(), REDIS_URL=stoppable_redis.url)() as client:
        signup = await client.post("/api/v1/auth/sign-up", json={"email": "ada@example.com", "password": PASSWORD})
        assert signup.status_code == 201
        stoppable_redis.stop()

        signin = await client.post("/api/v1/auth/tokens", json={"email": "ada@example.com", "password": PASSWORD})
        assert signin.status_code == 200
        for i in range(LIMIT - 1):
            assert (await attempt(client, i)).status_code == 401
        assert_limited(await attempt(client, 0))

        stoppable_redis.start()
        # Back on Redis, whose count for this client started afresh (one sign-up so far).
        assert (await attempt(client, 0)).status_code == 401
