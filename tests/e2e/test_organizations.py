"""Organizations over HTTP: who may do what, slugs derived or named, renaming, soft deletion, events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.bootstrap import Container
from tests.e2e.helpers import Client, assert_problem, bearer, error_fields, registered
from tests.e2e.tenancy import CALLERS, ORGS, Team, events, make_team, new_organization, user_id

#: Every route under an organization: method, path after the organization's, body, and the
#: status each member role gets. Anyone else (an outsider, a platform admin) gets 404 on all.
PERMISSIONS: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
    ("GET", "", None, {"owner": 200, "admin": 200, "member": 200}),
    ("PATCH", "", {"name": "Renamed"}, {"owner": 200, "admin": 200, "member": 403}),
    ("DELETE", "", None, {"owner": 204, "admin": 403, "member": 403}),
    ("GET", "/members", None, {"owner": 200, "admin": 200, "member": 200}),
    ("PATCH", "/members/{other}", {"role": "admin"}, {"owner": 200, "admin": 200, "member": 403}),
    ("DELETE", "/members/{other}", None, {"owner": 204, "admin": 204, "member": 403}),
    ("POST", "/invitations", {"email": "n@example.org", "role": "member"}, {"owner": 201, "admin": 201, "member": 403}),
    ("GET", "/invitations", None, {"owner": 200, "admin": 200, "member": 403}),
    ("DELETE", "/invitations/{invitation}", None, {"owner": 204, "admin": 204, "member": 403}),
]  # fmt: skip


@pytest.fixture
async def team(client: Client, container: Container, admin: dict[str, str]) -> Team:
    return await make_team(client, container.engine, admin)


async def pending_invitation(client: Client, team: Team) -> str:
    response = await client.post(
        f"{team.url}/invitations",
        json={"email": "invited@example.com", "role": "member"},
        headers=team.headers("owner"),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("method", "path", "body", "statuses"),
    PERMISSIONS,
    ids=[f"{method} {path or '/'}" for method, path, _, _ in PERMISSIONS],
)
async def test_each_route_answers_each_caller_as_the_table_says(
    client: Client,
    team: Team,
    *,
    caller: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    statuses: dict[str, int],
) -> None:
    invitation = await pending_invitation(client, team) if "{invitation}" in path else ""
    url = team.url + path.format(other=team.ids["other"], invitation=invitation)

    response = await client.request(method, url, json=body, headers=team.headers(caller))

    expected = statuses.get(caller, 404)
    if expected >= 400:
        assert_problem(response, expected, {403: "forbidden", 404: "not_found"}[expected])
    else:
        assert response.status_code == expected, response.text


@pytest.mark.parametrize("caller", ["outsider", "platform_admin"])
async def test_a_non_member_learns_nothing_an_unknown_organization_would_not_tell(
    client: Client, team: Team, caller: str
) -> None:
    known = await client.get(team.url, headers=team.headers(caller))
    unknown = await client.get(f"{ORGS}/0192f6f1-8a4c-7d3e-9b1a-2f3c4d5e6f70", headers=team.headers(caller))

    assert assert_problem(known, 404, "not_found")["detail"] == assert_problem(unknown, 404, "not_found")["detail"]


async def test_the_creator_is_the_owner_and_the_events_say_so(client: Client, container: Container) -> None:
    tokens = await registered(client, "ada@example.com")
    created = await new_organization(client, tokens, "Analytical Engines")

    assert created["slug"] == "analytical-engines"
    assert created["role"] == "owner"
    assert set(created) == {"id", "name", "slug", "role", "created_at", "updated_at"}
    me = await user_id(client, tokens)
    assert await events(container.engine) == [
        ("organization.created", {"organization_id": created["id"], "created_by": me}),
        ("organization.member_joined", {"organization_id": created["id"], "user_id": me, "role": "owner"}),
    ]
    read = await client.get(f"{ORGS}/{created['id']}", headers=bearer(tokens))
    assert read.status_code == 200
    assert read.json() == created


async def test_each_member_reads_their_own_role(client: Client, team: Team) -> None:
    for who in ("owner", "admin", "member"):
        response = await client.get(team.url, headers=team.headers(who))
        assert response.json()["role"] == who


async def test_a_derived_slug_that_is_taken_gets_a_suffix(client: Client) -> None:
    tokens = await registered(client, "ada@example.com")
    slugs = [(await new_organization(client, tokens, name))["slug"] for name in ("Acme", "ACME", "acme!", "Acme")]

    assert slugs == ["acme", "acme-2", "acme-3", "acme-4"]


async def test_concurrent_creates_of_one_name_all_succeed_with_distinct_slugs(client: Client) -> None:
    tokens = await registered(client, "ada@example.com")

    responses = await asyncio.gather(
        *(client.post(ORGS, json={"name": "Same Name"}, headers=bearer(tokens)) for _ in range(8))
    )

    assert [r.status_code for r in responses] == [201] * 8
    slugs = {r.json()["slug"] for r in responses}
    assert len(slugs) == 8
    assert all(slug.startswith("same-name") for slug in slugs)


async def test_a_named_slug_that_is_taken_is_a_conflict(client: Client) -> None:
    tokens = await registered(client, "ada@example.com")
    await new_organization(client, tokens, "Acme", slug="acme-corp")

    response = await client.post(ORGS, json={"name": "Other", "slug": "acme-corp"}, headers=bearer(tokens))

    assert_problem(response, 409, "conflict")


async def test_concurrent_creates_with_one_named_slug_let_one_through(client: Client) -> None:
    tokens = await registered(client, "ada@example.com")

    responses = await asyncio.gather(
        *(client.post(ORGS, json={"name": f"Org {i}", "slug": "contested"}, headers=bearer(tokens)) for i in range(6))
    )

    assert sorted(r.status_code for r in responses) == [201] + [409] * 5


async def test_renaming_to_a_taken_slug_is_a_conflict_and_changes_nothing(client: Client, team: Team) -> None:
    await new_organization(client, team.tokens["outsider"], "Elsewhere", slug="elsewhere")

    response = await client.patch(team.url, json={"name": "New", "slug": "elsewhere"}, headers=team.headers("admin"))

    assert_problem(response, 409, "conflict")
    assert (await client.get(team.url, headers=team.headers("owner"))).json()["name"] == "Acme"


async def test_renaming_changes_name_and_slug(client: Client, team: Team) -> None:
    response = await client.patch(
        team.url, json={"name": " Acme Two ", "slug": "acme-two"}, headers=team.headers("admin")
    )

    assert response.status_code == 200, response.text
    renamed = response.json()
    assert (renamed["name"], renamed["slug"], renamed["role"]) == ("Acme Two", "acme-two", "admin")
    assert renamed["updated_at"] > team.organization["updated_at"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "Ok", "slug": "No Caps"}, "slug"),
        ({"name": "Ok", "slug": "ab"}, "slug"),
        ({"name": "Ok", "slug": "a" * 64}, "slug"),
        ({"name": "Ok", "owner": "me"}, "owner"),
        ({}, "name"),
    ],
)
async def test_a_bad_body_is_refused_naming_the_field(client: Client, body: dict[str, Any], field: str) -> None:
    tokens = await registered(client, "ada@example.com")

    response = await client.post(ORGS, json=body, headers=bearer(tokens))

    assert field in error_fields(assert_problem(response, 422, "validation_failed"))


async def test_a_deleted_organization_is_gone_for_everyone_and_frees_its_slug(client: Client, team: Team) -> None:
    response = await client.delete(team.url, headers=team.headers("owner"))
    assert response.status_code == 204

    for who in ("owner", "admin", "member"):
        assert_problem(await client.get(team.url, headers=team.headers(who)), 404, "not_found")
        assert_problem(await client.get(f"{team.url}/members", headers=team.headers(who)), 404, "not_found")
        assert_problem(await client.delete(team.url, headers=team.headers(who)), 404, "not_found")
    listed = await client.get(ORGS, headers=team.headers("owner"))
    assert listed.json()["items"] == []
    assert (await new_organization(client, team.tokens["owner"], "Acme"))["slug"] == "acme"


async def test_an_anonymous_caller_is_unauthorized(client: Client, team: Team) -> None:
    assert_problem(await client.get(ORGS), 401, "unauthorized")
    assert_problem(await client.get(team.url), 401, "unauthorized")
