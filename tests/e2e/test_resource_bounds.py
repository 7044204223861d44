"""What one request may cost the service: bounded bodies, documents and connections.

Bounds proven elsewhere: bodies over 1 MiB get 413 on the auth and self-service routes
(``test_bad_input.py``), ``limit`` over 500 gets 422 (``test_admin_listing.py``), bulk
batches hold 1-1000 items (``test_admin.py``). Here: the same body bound on the admin and
API key routes, ``meta`` bounded on every route that writes it, and slow or oversized
requests against a real server process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from app.application.users.dto import META_MAX_BYTES, META_MAX_DEPTH, META_MAX_KEYS
from tests.e2e.helpers import Client, assert_problem, bearer, create, error_fields, registered

ONE_MIB = 1_048_576
JSON = {"content-type": "application/json"}
SOME_ID = "01a20000-0000-7000-8000-000000000000"


# --- Bodies on the admin and API key routes -------------------------------------------------------

#: Every route with a body that ``test_bad_input`` does not already send oversized and deep.
BODY_ROUTES = [
    ("POST", "/api/v1/users"),
    ("PATCH", f"/api/v1/users/{SOME_ID}"),
    ("POST", "/api/v1/users/bulk"),
    ("PATCH", "/api/v1/users/bulk"),
    ("POST", "/api/v1/api-keys"),
]


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
async def test_a_body_over_one_mib_is_too_large_on_every_route(
    client: Client, admin: dict[str, str], method: str, path: str
) -> None:
    body = b'{"items": [{"email": "' + b"a" * ONE_MIB + b'@example.com"}]}'

    response = await client.request(method, path, content=body, headers={**JSON, **bearer(admin)})

    assert_problem(response, 413, "payload_too_large")


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
async def test_deeply_nested_json_is_refused_on_every_route(
    client: Client, admin: dict[str, str], method: str, path: str
) -> None:
    """5,000 levels in ~10 KB: past any recursive reader's stack, refused before it is read."""
    body = b'{"meta": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"

    response = await client.request(method, path, content=body, headers={**JSON, **bearer(admin)})

    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


# --- meta: keys, depth and size, on every route that writes it ----------------------------------------


def nested(depth: int) -> dict[str, Any]:
    """A ``meta`` whose deepest value is ``depth`` levels down (``meta`` itself is level 1)."""
    value: Any = "leaf"
    for _ in range(depth - 1):
        value = {"a": value}
    assert isinstance(value, dict)
    return value


def keys(count: int) -> dict[str, Any]:
    return {f"key{index}": index for index in range(count)}


def sized(size: int) -> dict[str, Any]:
    """A ``meta`` of exactly ``size`` bytes as JSON: few keys, one long value."""
    meta = {"blob": ""}
    meta["blob"] = "x" * (size - len(msgspec.json.encode(meta)))
    assert len(msgspec.json.encode(meta)) == size
    return meta


@dataclass(frozen=True)
class MetaRoute:
    """A way to write ``meta``: ``send`` writes it for the user ``target`` (returns the response);
    ``field`` is the name a 422 gives it."""

    name: str
    send: Callable[[Client, dict[str, str], dict[str, Any], dict[str, Any]], Awaitable[Any]]
    field: str

    def __str__(self) -> str:
        return self.name


async def _patch_me(client: Client, _admin: dict[str, str], target: dict[str, Any], meta: dict[str, Any]) -> Any:
    return await client.patch("/api/v1/users/me", json={"meta": meta}, headers=bearer(target["tokens"]))


async def _admin_create(client: Client, admin: dict[str, str], _target: dict[str, Any], meta: dict[str, Any]) -> Any:
    return await client.post("/api/v1/users", json={"email": "new@example.com", "meta": meta}, headers=bearer(admin))


async def _admin_patch(client: Client, admin: dict[str, str], target: dict[str, Any], meta: dict[str, Any]) -> Any:
    return await client.patch(f"/api/v1/users/{target['id']}", json={"meta": meta}, headers=bearer(admin))


async def _bulk_create(client: Client, admin: dict[str, str], _target: dict[str, Any], meta: dict[str, Any]) -> Any:
    items = [{"email": "new0@example.com"}, {"email": "new1@example.com", "meta": meta}]
    return await client.post("/api/v1/users/bulk", json={"items": items}, headers=bearer(admin))


async def _bulk_patch(client: Client, admin: dict[str, str], target: dict[str, Any], meta: dict[str, Any]) -> Any:
    other = await create(client, admin, email="other@example.com")
    items = [{"id": other["id"], "first_name": "Changed"}, {"id": target["id"], "meta": meta}]
    return await client.patch("/api/v1/users/bulk", json={"items": items}, headers=bearer(admin))


META_ROUTES = [
    MetaRoute("PATCH /users/me", _patch_me, "meta"),
    MetaRoute("POST /users", _admin_create, "meta"),
    MetaRoute("PATCH /users/{id}", _admin_patch, "meta"),
    MetaRoute("POST /users/bulk", _bulk_create, "items.1.meta"),
    MetaRoute("PATCH /users/bulk", _bulk_patch, "items.1.meta"),
]

OVER_THE_BOUNDS = {
    "too deep": nested(META_MAX_DEPTH + 1),
    "too many keys": keys(META_MAX_KEYS + 1),
    "too large": sized(META_MAX_BYTES + 1),
}
AT_THE_BOUNDS = {
    "as deep as allowed": nested(META_MAX_DEPTH),
    "as many keys as allowed": keys(META_MAX_KEYS),
    "as large as allowed": sized(META_MAX_BYTES),
}


@pytest.fixture
async def target(client: Client) -> dict[str, Any]:
    """A user whose meta the routes write (a plain user: the self-service route writes its own)."""
    tokens = await registered(client, "ada@example.com")
    me = (await client.get("/api/v1/users/me", headers=bearer(tokens))).json()
    return {"tokens": tokens, "id": me["id"]}


async def everyone(client: Client, admin: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/users", params={"order_by": "email"}, headers=bearer(admin))
    assert response.status_code == 200, response.text
    users: list[dict[str, Any]] = response.json()["items"]
    return users


@pytest.mark.parametrize("meta", list(OVER_THE_BOUNDS))
@pytest.mark.parametrize("route", META_ROUTES, ids=str)
async def test_meta_over_its_bounds_is_refused_and_nothing_is_written(
    client: Client, admin: dict[str, str], target: dict[str, Any], route: MetaRoute, meta: str
) -> None:
    before = await everyone(client, admin)

    response = await route.send(client, admin, target, OVER_THE_BOUNDS[meta])

    assert route.field in error_fields(assert_problem(response, 422, "validation_failed"))
    after = [user for user in await everyone(client, admin) if user["email"] != "other@example.com"]
    assert after == before


@pytest.mark.parametrize("meta", list(AT_THE_BOUNDS))
@pytest.mark.parametrize("route", META_ROUTES, ids=str)
async def test_meta_at_its_bounds_is_stored_whole(
    client: Client, admin: dict[str, str], target: dict[str, Any], route: MetaRoute, meta: str
) -> None:
    response = await route.send(client, admin, target, AT_THE_BOUNDS[meta])

    assert response.status_code in (200, 201), response.text
    stored = {user["email"]: user["meta"] for user in await everyone(client, admin)}
    assert AT_THE_BOUNDS[meta] in stored.values()
