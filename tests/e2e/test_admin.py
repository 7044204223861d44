"""Administration routes: the admin guard, CRUD with soft delete, and all-or-nothing bulk operations."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from app.bootstrap import Container
from tests.e2e.helpers import PASSWORD, Client, assert_problem, bearer, counted_statements, create, registered, sign_in

SOME_ID = "01a20000-0000-7000-8000-000000000000"

ADMIN_ROUTES = [
    ("GET", "/api/v1/users", None),
    ("POST", "/api/v1/users", {"email": "new@example.com"}),
    ("GET", f"/api/v1/users/{SOME_ID}", None),
    ("PATCH", f"/api/v1/users/{SOME_ID}", {"first_name": "X"}),
    ("DELETE", f"/api/v1/users/{SOME_ID}", None),
    ("POST", "/api/v1/users/bulk", {"items": [{"email": "new@example.com"}]}),
    ("PATCH", "/api/v1/users/bulk", {"items": [{"id": SOME_ID, "first_name": "X"}]}),
]


@pytest.mark.parametrize(("method", "url", "body"), ADMIN_ROUTES)
async def test_admin_routes_refuse_others(client: Client, method: str, url: str, body: Any) -> None:
    anonymous = await client.request(method, url, json=body)
    assert_problem(anonymous, 401, "unauthorized")

    user = await registered(client, "ada@example.com")
    forbidden = await client.request(method, url, json=body, headers=bearer(user))
    assert_problem(forbidden, 403, "forbidden")


async def test_create_and_read_a_user(client: Client, admin: dict[str, str]) -> None:
    created = await create(
        client, admin, email="Grace@Example.com", password=PASSWORD, role="admin", first_name="Grace", meta={"t": 1}
    )
    assert (created["email"], created["role"], created["first_name"], created["meta"]) == (
        "grace@example.com",
        "admin",
        "Grace",
        {"t": 1},
    )

    read = await client.get(f"/api/v1/users/{created['id']}", headers=bearer(admin))
    assert read.json() == created
    await sign_in(client, "grace@example.com")


async def test_a_user_created_without_password_cannot_sign_in(client: Client, admin: dict[str, str]) -> None:
    await create(client, admin, email="nopass@example.com")
    response = await client.post("/api/v1/auth/tokens", json={"email": "nopass@example.com", "password": PASSWORD})
    assert_problem(response, 401, "unauthorized")


async def test_create_conflicts_and_validation(client: Client, admin: dict[str, str]) -> None:
    await create(client, admin, email="grace@example.com")
    taken = await client.post("/api/v1/users", json={"email": "GRACE@example.com"}, headers=bearer(admin))
    assert_problem(taken, 409, "conflict")

    invalid = await client.post(
        "/api/v1/users", json={"email": "nope", "password": "short", "role": "root"}, headers=bearer(admin)
    )
    body = assert_problem(invalid, 422, "validation_failed")
    assert {e["field"] for e in body["errors"]} == {"email", "password", "role"}


async def test_unknown_user_is_not_found(client: Client, admin: dict[str, str]) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(method, f"/api/v1/users/{SOME_ID}", json={} if method == "PATCH" else None,
                                         headers=bearer(admin))  # fmt: skip
        assert_problem(response, 404, "not_found")


async def test_role_change_takes_effect_at_once(client: Client, admin: dict[str, str]) -> None:
    user = await registered(client, "ada@example.com")
    me = (await client.get("/api/v1/users/me", headers=bearer(user))).json()
    assert_problem(await client.get("/api/v1/users", headers=bearer(user)), 403, "forbidden")

    promoted = await client.patch(f"/api/v1/users/{me['id']}", json={"role": "admin"}, headers=bearer(admin))
    assert promoted.json()["role"] == "admin"
    assert (await client.get(f"/api/v1/users/{me['id']}", headers=bearer(user))).status_code == 200

    await client.patch(f"/api/v1/users/{me['id']}", json={"role": "user"}, headers=bearer(admin))
    assert_problem(await client.get(f"/api/v1/users/{me['id']}", headers=bearer(user)), 403, "forbidden")


async def test_deactivation_by_an_admin_ends_every_session(client: Client, admin: dict[str, str]) -> None:
    user = await registered(client, "ada@example.com")
    me = (await client.get("/api/v1/users/me", headers=bearer(user))).json()

    patched = await client.patch(
        f"/api/v1/users/{me['id']}", json={"is_active": False, "last_name": "L"}, headers=bearer(admin)
    )

    assert (patched.json()["is_active"], patched.json()["last_name"]) == (False, "L")
    assert_problem(await client.get("/api/v1/users/me", headers=bearer(user)), 401, "unauthorized")
    signin = await client.post("/api/v1/auth/tokens", json={"email": "ada@example.com", "password": PASSWORD})
    assert_problem(signin, 401, "unauthorized")


async def test_admin_patch_refuses_what_it_cannot_change(client: Client, admin: dict[str, str]) -> None:
    created = await create(client, admin, email="grace@example.com")
    response = await client.patch(
        f"/api/v1/users/{created['id']}", json={"email": "x@example.com", "password": PASSWORD}, headers=bearer(admin)
    )
    body = assert_problem(response, 422, "validation_failed")
    assert {e["field"] for e in body["errors"]} == {"email", "password"}


async def test_soft_delete_hides_the_user_and_ends_its_sessions(client: Client, admin: dict[str, str]) -> None:
    user = await registered(client, "ada@example.com")
    user_id = (await client.get("/api/v1/users/me", headers=bearer(user))).json()["id"]

    assert (await client.delete(f"/api/v1/users/{user_id}", headers=bearer(admin))).status_code == 204

    assert_problem(await client.get("/api/v1/users/me", headers=bearer(user)), 401, "unauthorized")
    assert_problem(await client.get(f"/api/v1/users/{user_id}", headers=bearer(admin)), 404, "not_found")
    shown = await client.get(f"/api/v1/users/{user_id}", params={"include_deleted": "true"}, headers=bearer(admin))
    assert shown.json()["email"] == "ada@example.com"
    assert_problem(await client.delete(f"/api/v1/users/{user_id}", headers=bearer(admin)), 404, "not_found")
    signin = await client.post("/api/v1/auth/tokens", json={"email": "ada@example.com", "password": PASSWORD})
    assert_problem(signin, 401, "unauthorized")


async def test_bulk_create_is_one_insert(client: Client, admin: dict[str, str], container: Container) -> None:
    items = [{"email": f"user{i}@example.com", "first_name": f"U{i}"} for i in range(200)]

    with counted_statements(container.engine) as statements:
        response = await client.post("/api/v1/users/bulk", json={"items": items}, headers=bearer(admin))

    assert response.status_code == 201, response.text
    assert [u["email"] for u in response.json()["items"]] == [i["email"] for i in items]
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO USERS")]
    assert len(inserts) == 1
    assert len(statements) <= 6  # auth lookup, taken-email check, insert, transaction bookkeeping


@pytest.mark.parametrize(
    ("items", "named"),
    [
        ([{"email": "a@example.com"}, {"email": "taken@example.com"}], ["taken@example.com"]),
        ([{"email": "a@example.com"}, {"email": "A@example.com"}], ["a@example.com"]),
    ],
)
async def test_bulk_create_conflict_names_the_emails_and_inserts_nothing(
    client: Client, admin: dict[str, str], items: list[dict[str, str]], named: list[str]
) -> None:
    await create(client, admin, email="taken@example.com")

    response = await client.post("/api/v1/users/bulk", json={"items": items}, headers=bearer(admin))

    body = assert_problem(response, 409, "conflict")
    assert all(email in body["detail"] for email in named)
    for item in items:
        attempt = await client.post("/api/v1/users", json={"email": item["email"]}, headers=bearer(admin))
        assert attempt.status_code == (409 if item["email"] == "taken@example.com" else 201)
        if item["email"] != "taken@example.com":
            break


@pytest.mark.parametrize("count", [0, 1001])
async def test_bulk_sizes_are_bounded(client: Client, admin: dict[str, str], count: int) -> None:
    items = [{"email": f"user{i}@example.com"} for i in range(count)]
    response = await client.post("/api/v1/users/bulk", json={"items": items}, headers=bearer(admin))
    assert "items" in {e["field"] for e in assert_problem(response, 422, "validation_failed")["errors"]}


async def test_bulk_create_names_invalid_items(client: Client, admin: dict[str, str]) -> None:
    items = [{"email": "ok@example.com"}, {"email": "ok2@example.com", "password": "short"}]
    response = await client.post("/api/v1/users/bulk", json={"items": items}, headers=bearer(admin))
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"]
    assert (await client.post("/api/v1/users", json={"email": "ok@example.com"}, headers=bearer(admin))).is_success


async def test_bulk_update_changes_all_or_nothing(client: Client, admin: dict[str, str], container: Container) -> None:
    created = [await create(client, admin, email=f"user{i}@example.com") for i in range(3)]
    unknown = str(uuid.uuid4())

    missing = await client.patch(
        "/api/v1/users/bulk",
        json={"items": [{"id": created[0]["id"], "first_name": "Changed"}, {"id": unknown, "first_name": "X"}]},
        headers=bearer(admin),
    )
    assert unknown in assert_problem(missing, 404, "not_found")["detail"]
    unchanged = await client.get(f"/api/v1/users/{created[0]['id']}", headers=bearer(admin))
    assert unchanged.json()["first_name"] is None

    items = [{"id": u["id"], "first_name": f"N{i}", "role": "admin"} for i, u in enumerate(created)]
    with counted_statements(container.engine) as statements:
        updated = await client.patch("/api/v1/users/bulk", json={"items": items}, headers=bearer(admin))
    assert updated.status_code == 200, updated.text
    assert [(u["first_name"], u["role"]) for u in updated.json()["items"]] == [("N0", "admin"), ("N1", "admin"),
                                                                                ("N2", "admin")]  # fmt: skip
    assert len([s for s in statements if s.lstrip().upper().startswith("UPDATE USERS")]) == 1


async def test_bulk_deactivation_revokes_sessions(client: Client, admin: dict[str, str]) -> None:
    user = await registered(client, "ada@example.com")
    user_id = (await client.get("/api/v1/users/me", headers=bearer(user))).json()["id"]

    response = await client.patch(
        "/api/v1/users/bulk", json={"items": [{"id": user_id, "is_active": False}]}, headers=bearer(admin)
    )

    assert response.status_code == 200
    assert_problem(await client.get("/api/v1/users/me", headers=bearer(user)), 401, "unauthorized")


async def test_bulk_update_refuses_repeated_ids(client: Client, admin: dict[str, str]) -> None:
    created = await create(client, admin, email="grace@example.com")
    items = [{"id": created["id"], "first_name": "A"}, {"id": created["id"], "first_name": "B"}]
    response = await client.patch("/api/v1/users/bulk", json={"items": items}, headers=bearer(admin))
    assert "items" in {e["field"] for e in assert_problem(response, 422, "validation_failed")["errors"]}


async def test_concurrent_patches_of_different_fields_both_stick(client: Client, admin: dict[str, str]) -> None:
    """A patch rewrites the whole row: without locking it, one patch would undo the other."""
    user = await create(client, admin, email="twice@example.com", password=PASSWORD)
    url = f"/api/v1/users/{user['id']}"
    patches = [{"first_name": f"First{i}"} if i % 2 else {"last_name": f"Last{i}"} for i in range(12)]

    responses = await asyncio.gather(*(client.patch(url, json=patch, headers=bearer(admin)) for patch in patches))

    assert [r.status_code for r in responses] == [200] * len(patches)
    final = (await client.get(url, headers=bearer(admin))).json()
    assert final["first_name"] in {f"First{i}" for i in range(1, 12, 2)}
    assert final["last_name"] in {f"Last{i}" for i in range(0, 12, 2)}
