"""The tenancy's listings: a user's organizations and an organization's members, with the listing language."""

from __future__ import annotations

from typing import Any

import pytest

from app.bootstrap import Container
from tests.e2e.helpers import Client, assert_problem, bearer, error_fields, registered
from tests.e2e.tenancy import ORGS, Team, make_team, new_organization

NAMES = ["Alpha", "Beta", "Gamma", "Delta", "Epsilon"]


@pytest.fixture
async def mine(client: Client) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A user's five organizations (created in ``NAMES`` order), and someone else's one."""
    tokens = await registered(client, "ada@example.com")
    created = [await new_organization(client, tokens, name) for name in NAMES]
    await new_organization(client, await registered(client, "grace@example.com"), "Alphabet")
    return tokens, created


async def listed(client: Client, tokens: dict[str, Any], url: str = ORGS, **params: Any) -> dict[str, Any]:
    response = await client.get(url, params=params, headers=bearer(tokens))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def walk(client: Client, tokens: dict[str, Any], url: str, key: str, **params: Any) -> list[str]:
    """Every item's ``key``, page by page through the cursors."""
    seen: list[str] = []
    page = await listed(client, tokens, url, **params)
    while True:
        seen.extend(item[key] for item in page["items"])
        if page["next_cursor"] is None:
            return seen
        page = await listed(client, tokens, url, **params, cursor=page["next_cursor"])


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({}, NAMES[::-1]),  # newest first by default
        ({"name": "Beta"}, ["Beta"]),
        ({"name__ne": "Beta", "order_by": "name"}, ["Alpha", "Delta", "Epsilon", "Gamma"]),
        ({"name__ilike": "TA", "order_by": "name"}, ["Beta", "Delta"]),
        ({"slug__startswith": "ga"}, ["Gamma"]),
        ({"slug__in": "alpha,beta", "order_by": "slug"}, ["Alpha", "Beta"]),
        ({"name__gt": "Delta", "order_by": "-name"}, ["Gamma", "Epsilon"]),
        ({"slug__isnull": "true"}, []),
    ],
)
async def test_organizations_filter_and_sort(
    client: Client, mine: tuple[dict[str, Any], list[dict[str, Any]]], params: dict[str, str], names: list[str]
) -> None:
    tokens, _ = mine

    page = await listed(client, tokens, **params)

    assert [item["name"] for item in page["items"]] == names
    assert page["total"] == len(names)
    assert all(item["role"] == "owner" for item in page["items"])


async def test_organizations_filter_by_creation_time(
    client: Client, mine: tuple[dict[str, Any], list[dict[str, Any]]]
) -> None:
    tokens, created = mine

    page = await listed(client, tokens, created_at__gte=created[2]["created_at"], order_by="created_at")

    assert [item["name"] for item in page["items"]] == NAMES[2:]


async def test_organizations_page_through_cursors_without_another_users(
    client: Client, mine: tuple[dict[str, Any], list[dict[str, Any]]]
) -> None:
    tokens, _ = mine

    assert await walk(client, tokens, ORGS, "name", order_by="name", limit=2) == sorted(NAMES)
    first = await listed(client, tokens, limit=2, with_total="false")
    assert first["total"] is None
    assert first["next_cursor"] is not None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"include_deleted": "true"}, "include_deleted"),
        ({"role": "owner"}, "role"),
        ({"order_by": "updated_at"}, "order_by"),
        ({"created_at__gte": "yesterday"}, "created_at__gte"),
        ({"limit": "501"}, "limit"),
        ({"cursor": "forged.cursor"}, "cursor"),
    ],
)
async def test_a_bad_organizations_listing_parameter_is_named(
    client: Client, mine: tuple[dict[str, Any], list[dict[str, Any]]], params: dict[str, str], field: str
) -> None:
    tokens, _ = mine

    response = await client.get(ORGS, params=params, headers=bearer(tokens))

    assert error_fields(assert_problem(response, 422, "validation_failed")) == {field}


@pytest.fixture
async def team(client: Client, container: Container, admin: dict[str, str]) -> Team:
    return await make_team(client, container.engine, admin)


@pytest.mark.parametrize(
    ("params", "emails"),
    [
        ({}, ["owner", "admin", "member", "other"]),  # by joining time
        ({"email__istartswith": "ADMIN"}, ["admin"]),
        ({"email__like": "ther@"}, ["other"]),
        ({"role": "member"}, ["member", "other"]),
        ({"role__in": "owner,admin"}, ["owner", "admin"]),
        ({"role__not_in": "member"}, ["owner", "admin"]),
        ({"order_by": "email"}, ["admin", "member", "other", "owner"]),
        ({"order_by": "-role,email"}, ["owner", "admin", "member", "other"]),  # by rank, not alphabet
        ({"order_by": "-joined_at"}, ["other", "member", "admin", "owner"]),
    ],
)
async def test_members_filter_and_sort(client: Client, team: Team, params: dict[str, str], emails: list[str]) -> None:
    page = await listed(client, team.tokens["member"], f"{team.url}/members", **params)

    assert [item["email"] for item in page["items"]] == [f"{who}@example.com" for who in emails]
    assert page["total"] == len(emails)


async def test_members_filter_by_joining_time_and_page_through_cursors(client: Client, team: Team) -> None:
    url = f"{team.url}/members"
    everyone = (await listed(client, team.tokens["owner"], url))["items"]

    later = await listed(client, team.tokens["owner"], url, joined_at__gt=everyone[0]["joined_at"])
    assert [item["email"] for item in later["items"]] == [item["email"] for item in everyone[1:]]
    # Equal roles are ordered by user id, which is time-ordered: "member" signed up before "other".
    walked = await walk(client, team.tokens["owner"], url, "email", order_by="role", limit=1)
    assert walked == ["member@example.com", "other@example.com", "admin@example.com", "owner@example.com"]


async def test_a_bad_members_listing_parameter_is_named(client: Client, team: Team) -> None:
    response = await client.get(
        f"{team.url}/members", params={"role": "king", "password_hash": "x"}, headers=team.headers("member")
    )

    assert error_fields(assert_problem(response, 422, "validation_failed")) == {"role", "password_hash"}
