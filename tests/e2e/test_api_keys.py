"""API keys: shown once, stored hashed, act as their owner everywhere, revoked or expired at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.bootstrap import Container
from app.infrastructure.db.models import ApiKeyModel
from tests.e2e.helpers import Client, assert_problem, bearer, counted_statements, new_key, registered

KEY_FIELDS = {"id", "name", "prefix", "created_at", "expires_at", "last_used_at"}


async def test_a_key_is_shown_once_and_stored_hashed(client: Client, container: Container) -> None:
    tokens = await registered(client, "ada@example.com")

    created = await new_key(client, tokens, name="deploy bot")

    assert set(created) == KEY_FIELDS | {"key"}
    assert created["key"].startswith(created["prefix"])
    assert created["key"].startswith("ak_")
    listed = (await client.get("/api/v1/api-keys", headers=bearer(tokens))).json()
    assert listed == [{k: v for k, v in created.items() if k != "key"}]
    async with container.engine.connect() as connection:
        stored = (await connection.execute(select(ApiKeyModel.key_hash, ApiKeyModel.prefix))).one()
    assert created["key"] not in stored
    assert stored.prefix == created["prefix"]


async def test_a_key_acts_as_its_owner(client: Client, admin: dict[str, str]) -> None:
    key = (await new_key(client, admin))["key"]

    me = await client.get("/api/v1/users/me", headers={"X-API-Key": key})
    assert me.json()["email"] == "root@example.com"
    # ... with the owner's role: an admin's key reaches the admin routes.
    assert (await client.get("/api/v1/users", headers={"X-API-Key": key})).status_code == 200


async def test_a_users_key_has_a_users_role(client: Client) -> None:
    key = (await new_key(client, await registered(client, "ada@example.com")))["key"]
    assert_problem(await client.get("/api/v1/users", headers={"X-API-Key": key}), 403, "forbidden")


async def test_role_changes_reach_a_key_at_once(client: Client, admin: dict[str, str]) -> None:
    """A key acts with its owner's role as it is now, not as it was when the key was first used."""
    tokens = await registered(client, "ada@example.com")
    key = (await new_key(client, tokens))["key"]
    user_id = (await client.get("/api/v1/users/me", headers={"X-API-Key": key})).json()["id"]
    assert_problem(await client.get("/api/v1/users", headers={"X-API-Key": key}), 403, "forbidden")

    promoted = await client.patch(f"/api/v1/users/{user_id}", json={"role": "admin"}, headers=bearer(admin))

    assert promoted.is_success
    assert (await client.get("/api/v1/users", headers={"X-API-Key": key})).status_code == 200


async def test_revoked_key_is_refused_at_once(client: Client) -> None:
    tokens = await registered(client, "ada@example.com")
    created = await new_key(client, tokens)
    assert (await client.get("/api/v1/users/me", headers={"X-API-Key": created["key"]})).status_code == 200

    revoked = await client.delete(f"/api/v1/api-keys/{created['id']}", headers=bearer(tokens))

    assert revoked.status_code == 204
    assert_problem(await client.get("/api/v1/users/me", headers={"X-API-Key": created["key"]}), 401, "unauthorized")
    assert (await client.get("/api/v1/api-keys", headers=bearer(tokens))).json() == []
    again = await client.delete(f"/api/v1/api-keys/{created['id']}", headers=bearer(tokens))
    assert_problem(again, 404, "not_found")


async def test_expired_key_is_refused(client: Client, container: Container) -> None:
    tokens = await registered(client, "ada@example.com")
    created = await new_key(client, tokens, expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
    async with container.engine.begin() as connection:  # let an hour pass
        await connection.execute(update(ApiKeyModel).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))

    assert_problem(await client.get("/api/v1/users/me", headers={"X-API-Key": created["key"]}), 401, "unauthorized")


async def test_expiry_must_be_in_the_future(client: Client) -> None:
    tokens = await registered(client, "ada@example.com")
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    response = await client.post("/api/v1/api-keys", json={"name": "x", "expires_at": past}, headers=bearer(tokens))
    assert [e["field"] for e in assert_problem(response, 422, "validation_failed")["errors"]] == ["expires_at"]


async def test_another_users_key_is_not_found(client: Client) -> None:
    ada = await registered(client, "ada@example.com")
    eve = await registered(client, "eve@example.com")
    created = await new_key(client, ada)

    assert_problem(await client.delete(f"/api/v1/api-keys/{created['id']}", headers=bearer(eve)), 404, "not_found")
    assert (await client.get("/api/v1/api-keys", headers=bearer(eve))).json() == []
    assert (await client.get("/api/v1/users/me", headers={"X-API-Key": created["key"]})).status_code == 200


@pytest.mark.parametrize(
    "key",
    ["", "ak_", "ak_unknownunknownunknown", "not-a-key", "ak_" + "x" * 5000],
)
async def test_malformed_or_unknown_keys_are_refused(client: Client, key: str) -> None:
    response = await client.get("/api/v1/users/me", headers={"X-API-Key": key})
    assert_problem(response, 401, "unauthorized")


async def test_a_tampered_key_with_a_real_prefix_is_refused(client: Client) -> None:
    key = (await new_key(client, await registered(client, "ada@example.com")))["key"]
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert_problem(await client.get("/api/v1/users/me", headers={"X-API-Key": tampered}), 401, "unauthorized")


async def test_a_deactivated_owners_keys_stop_working(client: Client) -> None:
    tokens = await registered(client, "ada@example.com")
    key = (await new_key(client, tokens))["key"]
    await client.delete("/api/v1/users/me", headers=bearer(tokens))
    assert_problem(await client.get("/api/v1/users/me", headers={"X-API-Key": key}), 401, "unauthorized")


async def test_last_use_is_recorded_without_a_write_per_request(client: Client, container: Container) -> None:
    created = await new_key(client, await registered(client, "ada@example.com"))
    assert created["last_used_at"] is None
    with counted_statements(container.engine) as statements:
        for _ in range(5):
            assert (await client.get("/api/v1/users/me", headers={"X-API-Key": created["key"]})).status_code == 200

    writes = [s for s in statements if s.lstrip().upper().startswith("UPDATE API_KEYS")]
    assert len(writes) == 1
    listed = (await client.get("/api/v1/api-keys", headers={"X-API-Key": created["key"]})).json()
    assert listed[0]["last_used_at"] is not None


async def test_logout_needs_a_session(client: Client) -> None:
    key = (await new_key(client, await registered(client, "ada@example.com")))["key"]
    assert_problem(await client.post("/api/v1/auth/logout", headers={"X-API-Key": key}), 403, "forbidden")
