"""Members over HTTP: roles granted and taken, leaving, the last owner, and the events of each change."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.application.organizations.dto import OrganizationCreateBody
from app.bootstrap import Container
from app.domain.organizations.errors import LastOwner
from app.domain.organizations.values import OrgRole
from tests.conftest import embedded_container
from tests.e2e.helpers import PASSWORD, Client, assert_problem, error_fields
from tests.e2e.tenancy import Team, add_member, events, make_team


@pytest.fixture
async def team(client: Client, container: Container, admin: dict[str, str]) -> Team:
    return await make_team(client, container.engine, admin)


async def change(client: Client, team: Team, who: str, target: str, role: str) -> int:
    url = f"{team.url}/members/{team.ids[target]}"
    return (await client.patch(url, json={"role": role}, headers=team.headers(who))).status_code


async def remove(client: Client, team: Team, who: str, target: str) -> int:
    return (await client.delete(f"{team.url}/members/{team.ids[target]}", headers=team.headers(who))).status_code


@pytest.mark.parametrize(
    ("who", "target", "role", "status"),
    [
        ("owner", "member", "owner", 200),
        ("owner", "admin", "member", 200),
        ("admin", "member", "admin", 200),
        ("admin", "other", "member", 200),  # no change at all: nothing to refuse
        ("admin", "member", "owner", 403),  # only an owner grants owner
        ("admin", "owner", "admin", 403),  # ... or takes it away
        ("admin", "owner", "owner", 403),
        ("member", "other", "admin", 403),
        ("member", "member", "admin", 403),  # nobody promotes themself
    ],
)
async def test_who_may_give_which_role(
    client: Client, team: Team, *, who: str, target: str, role: str, status: int
) -> None:
    assert await change(client, team, who, target, role) == status
    members = (await client.get(f"{team.url}/members", headers=team.headers("owner"))).json()["items"]
    roles = {m["user_id"]: m["role"] for m in members}
    expected = role if status == 200 else {"owner": "owner", "admin": "admin"}.get(target, "member")
    assert roles[team.ids[target]] == expected


async def test_a_role_change_answers_the_member_and_records_an_event(
    client: Client, container: Container, team: Team
) -> None:
    before = len(await events(container.engine))
    response = await client.patch(
        f"{team.url}/members/{team.ids['member']}", json={"role": "admin"}, headers=team.headers("owner")
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"user_id", "email", "first_name", "last_name", "role", "joined_at"}
    assert (body["user_id"], body["email"], body["role"]) == (team.ids["member"], "member@example.com", "admin")
    assert (await events(container.engine))[before:] == [
        (
            "organization.member_role_changed",
            {"organization_id": team.organization["id"], "user_id": team.ids["member"], "role": "admin"},
        )
    ]


async def test_an_unknown_role_or_member_is_refused(client: Client, team: Team) -> None:
    bad_role = await client.patch(
        f"{team.url}/members/{team.ids['member']}", json={"role": "king"}, headers=team.headers("owner")
    )
    assert error_fields(assert_problem(bad_role, 422, "validation_failed")) == {"role"}
    stranger = await client.patch(
        f"{team.url}/members/{team.ids['outsider']}", json={"role": "admin"}, headers=team.headers("owner")
    )
    assert_problem(stranger, 404, "not_found")


@pytest.mark.parametrize(
    ("who", "target", "status"),
    [
        ("owner", "admin", 204),
        ("owner", "member", 204),
        ("admin", "member", 204),
        ("admin", "owner", 403),  # an admin cannot remove an owner
        ("member", "other", 403),
        ("member", "member", 204),  # leaving
        ("admin", "admin", 204),
        ("owner", "owner", 409),  # the last owner cannot leave
    ],
)
async def test_who_may_remove_whom(client: Client, team: Team, who: str, target: str, status: int) -> None:
    assert await remove(client, team, who, target) == status

    still_in = await client.get(team.url, headers=team.headers(target))
    assert still_in.status_code == (404 if status == 204 else 200)


async def test_a_removal_records_an_event_and_ends_access_at_once(
    client: Client, container: Container, team: Team
) -> None:
    before = len(await events(container.engine))

    assert await remove(client, team, "admin", "member") == 204

    assert (await events(container.engine))[before:] == [
        ("organization.member_removed", {"organization_id": team.organization["id"], "user_id": team.ids["member"]})
    ]
    assert_problem(await client.get(f"{team.url}/members", headers=team.headers("member")), 404, "not_found")


async def test_the_last_owner_can_be_neither_demoted_nor_removed(client: Client, team: Team) -> None:
    assert_problem(
        await client.patch(
            f"{team.url}/members/{team.ids['owner']}", json={"role": "admin"}, headers=team.headers("owner")
        ),
        409,
        "conflict",
    )
    assert await remove(client, team, "owner", "owner") == 409

    assert await change(client, team, "owner", "admin", "owner") == 200
    assert await change(client, team, "admin", "owner", "member") == 200  # another owner remains
    assert await remove(client, team, "admin", "admin") == 409  # ... who is now the last one


async def test_two_owners_leaving_at_once_leave_one(client: Client, container: Container, team: Team) -> None:
    await add_member(container.engine, team.organization["id"], team.ids["outsider"], "owner")

    statuses = await asyncio.gather(
        remove(client, team, "owner", "owner"), remove(client, team, "outsider", "outsider")
    )

    assert sorted(statuses) == [204, 409]
    owners = await client.get(f"{team.url}/members", params={"role": "owner"}, headers=team.headers("admin"))
    assert owners.json()["total"] == 1


async def test_two_owners_demoting_themselves_at_once_leave_one(
    client: Client, container: Container, team: Team
) -> None:
    await add_member(container.engine, team.organization["id"], team.ids["outsider"], "owner")

    statuses = await asyncio.gather(
        change(client, team, "owner", "owner", "member"), change(client, team, "outsider", "outsider", "member")
    )

    assert sorted(statuses) == [200, 409]


async def test_on_embedded_sqlite_two_owners_leaving_at_once_leave_one(tmp_path: Path) -> None:
    """The development database has no row locks; its one write lock serializes membership changes instead."""
    async with embedded_container(tmp_path / "embedded.db") as container:
        ada = await container.users.sign_up("ada@example.com", PASSWORD, {})
        grace = await container.users.sign_up("grace@example.com", PASSWORD, {})
        for round_ in range(3):
            org = await container.organizations.create(ada.id, OrganizationCreateBody(name=f"Round {round_}"))
            await container.members.admit(org.id, grace.id, OrgRole.OWNER)

            outcomes = await asyncio.gather(
                *(container.members.remove(user.id, org.id, user.id) for user in (ada, grace)),
                return_exceptions=True,
            )

            assert sorted(type(outcome).__name__ for outcome in outcomes) == ["LastOwner", "NoneType"], outcomes
            owners = await container.members.list_members(
                ada.id if isinstance(outcomes[0], LastOwner) else grace.id, org.id, {"role": ["owner"]}
            )
            assert owners.total == 1
