"""The Redis authentication cache: no database on a hit, and every revoking change seen at once.

Two application instances share one database and one Redis, like two workers: one
caches a caller (a session or an API key), the other changes something, and the first
must notice immediately.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from app.application.auth.queries import API_KEY_TOUCH_INTERVAL
from app.bootstrap import Container, build_container
from app.infrastructure.config import Settings
from app.interfaces.http.app import create_app
from tests.conftest import make_settings
from tests.e2e.helpers import (
    PASSWORD,
    api_key,
    assert_problem,
    bearer,
    counted_statements,
    new_key,
    registered,
    sign_in,
)
from tests.support.servers import RedisServer

ME = "/api/v1/users/me"


class Instance:
    def __init__(self, container: Container, client: AsyncClient) -> None:
        self.container = container
        self.client = client


async def start(settings: Settings, redis_url: str) -> tuple[Instance, AsyncClient]:
    """Another worker: the suite's database and secret key (tokens must be valid on every worker)."""
    container = build_container(
        make_settings(settings.database_url, REDIS_URL=redis_url, SECRET_KEY=settings.secret_key)
    )
    transport = ASGITransport(app=create_app(container.settings, container))  # type: ignore[arg-type]
    client = AsyncClient(transport=transport, base_url="http://testserver.local")
    return Instance(container, client), client


@pytest.fixture
async def pair(settings: Settings, redis_url: str) -> AsyncIterator[tuple[Instance, Instance]]:
    first, first_client = await start(settings, redis_url)
    second, second_client = await start(settings, redis_url)
    async with first_client, second_client:
        yield first, second
    await first.container.close()
    await second.container.close()


async def test_a_cache_hit_costs_no_database_round_trip(pair: tuple[Instance, Instance]) -> None:
    reader, _ = pair
    tokens = await registered(reader.client, "ada@example.com")

    with counted_statements(reader.container.engine) as miss:
        assert (await reader.client.get(ME, headers=bearer(tokens))).status_code == 200
    with counted_statements(reader.container.engine) as hit:
        for _ in range(3):
            assert (await reader.client.get(ME, headers=bearer(tokens))).status_code == 200

    assert len([s for s in miss if s.lstrip().upper().startswith("SELECT")]) == 1
    assert hit == []


def selects(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


async def test_an_api_key_is_cached_from_its_second_use_on(pair: tuple[Instance, Instance]) -> None:
    """The first use finds whose key it is (in the database); the second caches it; then no database."""
    reader, _ = pair
    created = await new_key(reader.client, await registered(reader.client, "ada@example.com"))

    uses = []
    for _ in range(5):
        with counted_statements(reader.container.engine) as statements:
            assert (await reader.client.get(ME, headers=api_key(created))).status_code == 200
        uses.append(statements)

    assert len(selects(uses[0])) == 1
    assert len(selects(uses[1])) == 1
    assert uses[2:] == [[], [], []]


async def cached_key(instance: Instance, tokens: dict[str, Any]) -> dict[str, Any]:
    """A new key of the tokens' owner, used on ``instance`` until the cache answers for it."""
    created = await new_key(instance.client, tokens)
    for _ in range(2):
        assert (await instance.client.get(ME, headers=api_key(created))).status_code == 200
    with counted_statements(instance.container.engine) as statements:
        assert (await instance.client.get(ME, headers=api_key(created))).status_code == 200
    assert statements == [], "the key should have been answered from the cache"
    created["user_id"] = (await instance.client.get(ME, headers=bearer(tokens))).json()["id"]
    return created


Action = Callable[[AsyncClient, dict[str, Any], dict[str, Any], dict[str, str]], Awaitable[None]]


async def logout(client: AsyncClient, victim: dict[str, Any], _: dict[str, Any], __: dict[str, str]) -> None:
    assert (await client.post("/api/v1/auth/logout", headers=bearer(victim))).status_code == 204


async def revoke_by_id(client: AsyncClient, victim: dict[str, Any], other: dict[str, Any], _: dict[str, str]) -> None:
    url = f"/api/v1/auth/sessions/{victim['session_id']}"
    assert (await client.delete(url, headers=bearer(other))).status_code == 204


async def change_password(client: AsyncClient, _: dict[str, Any], other: dict[str, Any], __: dict[str, str]) -> None:
    body = {"current_password": PASSWORD, "new_password": "another password"}
    assert (await client.post(f"{ME}/password", json=body, headers=bearer(other))).status_code == 204


async def deactivate(client: AsyncClient, _: dict[str, Any], other: dict[str, Any], __: dict[str, str]) -> None:
    assert (await client.delete(ME, headers=bearer(other))).status_code == 204


async def reuse_refresh(client: AsyncClient, victim: dict[str, Any], _: dict[str, Any], __: dict[str, str]) -> None:
    for _attempt in range(2):
        await client.post("/api/v1/auth/tokens/refresh", json={"refresh_token": victim["refresh_token"]})


async def admin_deactivates(
    client: AsyncClient, victim: dict[str, Any], _: dict[str, Any], admin: dict[str, str]
) -> None:
    me = (await client.get(ME, headers=bearer(admin))).json()
    del me
    user_id = victim["user_id"]
    assert (await client.patch(f"/api/v1/users/{user_id}", json={"is_active": False}, headers=bearer(admin))).is_success


async def admin_deletes(client: AsyncClient, victim: dict[str, Any], _: dict[str, Any], admin: dict[str, str]) -> None:
    assert (await client.delete(f"/api/v1/users/{victim['user_id']}", headers=bearer(admin))).status_code == 204


async def revoke_key(client: AsyncClient, victim: dict[str, Any], other: dict[str, Any], _: dict[str, str]) -> None:
    assert (await client.delete(f"/api/v1/api-keys/{victim['id']}", headers=bearer(other))).status_code == 204


@pytest.mark.parametrize(
    "action",
    [logout, revoke_by_id, change_password, deactivate, reuse_refresh, admin_deactivates, admin_deletes],
    ids=lambda action: action.__name__,
)
async def test_revoking_actions_take_effect_at_once_on_every_instance(
    pair: tuple[Instance, Instance], admin: dict[str, str], action: Action
) -> None:
    reader, writer = pair
    await registered(reader.client, "ada@example.com")
    victim = await sign_in(reader.client, "ada@example.com")
    other = await sign_in(reader.client, "ada@example.com")
    victim["user_id"] = (await reader.client.get(ME, headers=bearer(victim))).json()["id"]
    assert (await reader.client.get(ME, headers=bearer(victim))).status_code == 200  # now cached

    await action(writer.client, victim, other, admin)

    assert_problem(await reader.client.get(ME, headers=bearer(victim)), 401, "unauthorized")


@pytest.mark.parametrize(
    "action", [revoke_key, deactivate, admin_deactivates, admin_deletes], ids=lambda action: action.__name__
)
async def test_revoking_actions_reach_a_cached_api_key_at_once(
    pair: tuple[Instance, Instance], admin: dict[str, str], action: Action
) -> None:
    reader, writer = pair
    owner = await registered(reader.client, "ada@example.com")
    victim = await cached_key(reader, owner)

    await action(writer.client, victim, owner, admin)

    assert_problem(await reader.client.get(ME, headers=api_key(victim)), 401, "unauthorized")


async def test_profile_and_role_changes_are_visible_at_once(
    pair: tuple[Instance, Instance], admin: dict[str, str]
) -> None:
    reader, writer = pair
    tokens = await registered(reader.client, "ada@example.com")
    user_id = (await reader.client.get(ME, headers=bearer(tokens))).json()["id"]

    await writer.client.patch(ME, json={"first_name": "Ada"}, headers=bearer(tokens))
    assert (await reader.client.get(ME, headers=bearer(tokens))).json()["first_name"] == "Ada"

    assert_problem(await reader.client.get("/api/v1/users", headers=bearer(tokens)), 403, "forbidden")
    await writer.client.patch(f"/api/v1/users/{user_id}", json={"role": "admin"}, headers=bearer(admin))
    assert (await reader.client.get("/api/v1/users", headers=bearer(tokens))).status_code == 200


async def test_owner_changes_reach_a_cached_api_key_at_once(
    pair: tuple[Instance, Instance], admin: dict[str, str]
) -> None:
    reader, writer = pair
    tokens = await registered(reader.client, "ada@example.com")
    key = await cached_key(reader, tokens)
    as_user = f"/api/v1/users/{key['user_id']}"

    await writer.client.patch(ME, json={"first_name": "Ada"}, headers=bearer(tokens))
    assert (await reader.client.get(ME, headers=api_key(key))).json()["first_name"] == "Ada"

    assert_problem(await reader.client.get("/api/v1/users", headers=api_key(key)), 403, "forbidden")
    assert (await writer.client.patch(as_user, json={"role": "admin"}, headers=bearer(admin))).is_success
    assert (await reader.client.get("/api/v1/users", headers=api_key(key))).status_code == 200
    assert (await writer.client.patch(as_user, json={"role": "user"}, headers=bearer(admin))).is_success
    assert_problem(await reader.client.get("/api/v1/users", headers=api_key(key)), 403, "forbidden")


async def test_the_cache_holds_no_password_hash_and_no_api_key(pair: tuple[Instance, Instance]) -> None:
    reader, _ = pair
    tokens = await registered(reader.client, "ada@example.com")
    await reader.client.get(ME, headers=bearer(tokens))
    key = await cached_key(reader, tokens)
    redis = reader.container.redis
    assert redis is not None

    names = [name async for name in redis.scan_iter("auth:*")]
    values = [await redis.get(name) or b"" for name in names]

    assert {name.split(b":")[1] for name in names} == {b"session", b"api-key", b"version"}
    assert all(b"$argon2" not in value for value in values)
    assert all(key["key"].encode() not in text for text in names + values)


class ShiftedClock:
    """The wall clock, moved forward by ``ahead``: the use cases' clock, for time to pass at once."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


@pytest.mark.usefixtures("clean_database")
async def test_a_cached_api_key_records_its_use_once_an_interval(
    settings: Settings, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ShiftedClock()
    monkeypatch.setattr("app.bootstrap.utc_now", clock)
    instance, client = await start(settings, redis_url)
    async with client:
        tokens = await registered(client, "ada@example.com")
        created = await new_key(client, tokens)
        with counted_statements(instance.container.engine) as first_interval:
            for _ in range(5):
                assert (await client.get(ME, headers=api_key(created))).status_code == 200
        first_use = (await client.get("/api/v1/api-keys", headers=bearer(tokens))).json()[0]["last_used_at"]

        clock.ahead = API_KEY_TOUCH_INTERVAL + timedelta(seconds=1)
        with counted_statements(instance.container.engine) as next_interval:
            for _ in range(5):
                assert (await client.get(ME, headers=api_key(created))).status_code == 200
        next_use = (await client.get("/api/v1/api-keys", headers=bearer(tokens))).json()[0]["last_used_at"]
    await instance.container.close()

    recorded_use = [["UPDATE", "api_keys"]]
    assert [s.split()[:2] for s in first_interval if s.lstrip().upper().startswith("UPDATE")] == recorded_use
    # Answered from the cache: the one statement of the next interval is the use it records.
    assert [s.split()[:2] for s in next_interval] == recorded_use
    assert datetime.fromisoformat(next_use) - datetime.fromisoformat(first_use) > API_KEY_TOUCH_INTERVAL


@pytest.mark.usefixtures("clean_database")
async def test_a_redis_outage_falls_back_to_the_database(settings: Settings, stoppable_redis: RedisServer) -> None:
    instance, client = await start(settings, stoppable_redis.url)
    async with client:
        tokens = await registered(client, "ada@example.com")
        other = await sign_in(client, "ada@example.com")
        assert (await client.get(ME, headers=bearer(tokens))).status_code == 200
        kept, revoked = await cached_key(instance, tokens), await cached_key(instance, tokens)

        stoppable_redis.stop()
        assert (await client.get(ME, headers=bearer(tokens))).status_code == 200
        assert (await client.get(ME, headers=api_key(kept))).status_code == 200
        assert (await client.post("/api/v1/auth/logout", headers=bearer(other))).status_code == 204
        assert (await client.delete(f"/api/v1/api-keys/{revoked['id']}", headers=bearer(tokens))).status_code == 204
        assert_problem(await client.get(ME, headers=bearer(other)), 401, "unauthorized")
        assert_problem(await client.get(ME, headers=api_key(revoked)), 401, "unauthorized")

        stoppable_redis.start()
        assert (await client.get(ME, headers=bearer(tokens))).status_code == 200
        assert (await client.get(ME, headers=api_key(kept))).status_code == 200
        assert_problem(await client.get(ME, headers=bearer(other)), 401, "unauthorized")
        assert_problem(await client.get(ME, headers=api_key(revoked)), 401, "unauthorized")
    await instance.container.close()
