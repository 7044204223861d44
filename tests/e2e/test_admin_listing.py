"""``GET /api/v1/users`` as a client drives it: filters, pages, cursors and hostile parameters."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.helpers import Client, assert_problem, bearer, create, error_fields


@pytest.fixture
async def people(client: Client, admin: dict[str, str]) -> list[dict[str, Any]]:
    return [
        await create(client, admin, email=f"p{i}@example.com", first_name=name, meta={"plan": plan})
        for i, (name, plan) in enumerate([("Ada", "pro"), ("Grace", "free"), ("Alan", "pro"), (None, "team")])
    ]


async def listing(client: Client, tokens: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/users", params=params, headers=bearer(tokens))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_default_listing_is_newest_first_with_total(
    client: Client,
    admin: dict[str, str],
    people: list[dict[str, Any]],
) -> None:
    page = await listing(client, admin)

    emails = [u["email"] for u in page["items"]]
    assert emails == [p["email"] for p in reversed(people)] + ["root@example.com"]
    assert (page["total"], page["limit"], page["offset"], page["next_cursor"]) == (5, 50, 0, None)


async def test_filters_reach_the_database(
    client: Client,
    admin: dict[str, str],
    people: list[dict[str, Any]],
) -> None:
    pro = await listing(client, admin, **{"meta.plan": "pro", "order_by": "first_name"})
    assert [u["first_name"] for u in pro["items"]] == ["Ada", "Alan"]

    nameless = await listing(client, admin, first_name__isnull="true", role="user")
    assert [u["email"] for u in nameless["items"]] == ["p3@example.com"]

    some = await listing(client, admin, email__in="p0@example.com,p2@example.com", with_total="false")
    assert {u["email"] for u in some["items"]} == {"p0@example.com", "p2@example.com"}
    assert some["total"] is None


async def test_cursor_walk_serves_every_user_once(
    client: Client,
    admin: dict[str, str],
    people: list[dict[str, Any]],
) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2, "order_by": "email"}
    while True:
        page = await listing(client, admin, **params)
        seen += [u["email"] for u in page["items"]]
        if page["next_cursor"] is None:
            break
        assert page["offset"] is None or page["offset"] == 0
        params["cursor"] = page["next_cursor"]

    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == 5


async def test_soft_deleted_users_only_with_include_deleted(
    client: Client,
    admin: dict[str, str],
    people: list[dict[str, Any]],
) -> None:
    await client.delete(f"/api/v1/users/{people[0]['id']}", headers=bearer(admin))

    assert people[0]["email"] not in {u["email"] for u in (await listing(client, admin))["items"]}
    shown = await listing(client, admin, include_deleted="true")
    assert people[0]["email"] in {u["email"] for u in shown["items"]}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"password_hash__eq": "x"}, {"password_hash__eq"}),
        ({"email__regex": "a"}, {"email__regex"}),
        ({"meta.a.b.c": "x"}, {"meta.a.b.c"}),
        ({"limit": "0", "offset": "-1", "created_at__gt": "yesterday"}, {"limit", "offset", "created_at__gt"}),
        ({"limit": "501"}, {"limit"}),
        ({"limit": "abc"}, {"limit"}),
        ({"order_by": "password_hash"}, {"order_by"}),
        ({"cursor": "not-a-cursor"}, {"cursor"}),
        ({"is_active": "maybe", "id": "42"}, {"is_active", "id"}),
    ],
)
async def test_hostile_parameters_are_named(
    client: Client,
    admin: dict[str, str],
    params: dict[str, str],
    named: set[str],
) -> None:
    response = await client.get("/api/v1/users", params=params, headers=bearer(admin))
    assert error_fields(assert_problem(response, 422, "validation_failed")) == named


async def test_a_tampered_or_misused_cursor_is_refused(
    client: Client,
    admin: dict[str, str],
    people: list[dict[str, Any]],
) -> None:
    cursor = (await listing(client, admin, limit=1))["next_cursor"]
    assert cursor

    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    for params in ({"cursor": tampered}, {"cursor": cursor, "order_by": "email"}, {"cursor": cursor, "offset": "5"}):
        response = await client.get("/api/v1/users", params={"limit": 1, **params}, headers=bearer(admin))
        assert_problem(response, 422, "validation_failed")


async def test_sql_in_values_is_only_data(
    client: Client,
    admin: dict[str, str],
    people: list[dict[str, Any]],
) -> None:
    page = await listing(client, admin, first_name="'; DROP TABLE users; --", email__ilike="%_\\")
    assert page["items"] == []
    assert (await listing(client, admin))["total"] == 5
