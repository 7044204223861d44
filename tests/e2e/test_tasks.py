"""``/api/v1/organizations/{org_id}/tasks`` as clients call it: the permission table, tenancy, bodies.

Organizations and memberships are set up in the database (``tests.support.tenancy``); the
tasks are made and changed over REST only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest

from app.bootstrap import Container
from app.domain.organizations.values import OrgRole
from tests.e2e.helpers import Client, assert_problem, bearer, error_fields, registered
from tests.support.factories import unique_email
from tests.support.tenancy import add_member, create_organization, delete_organization

#: Who each caller of the permission table is in the organization (None: not a member).
ROLES: dict[str, OrgRole | None] = {
    "creator": OrgRole.MEMBER,
    "assignee": OrgRole.MEMBER,
    "member": OrgRole.MEMBER,
    "admin": OrgRole.ADMIN,
    "owner": OrgRole.OWNER,
    "non_member": None,
    "platform_admin": None,
}


@dataclass(frozen=True)
class Caller:
    id: UUID
    headers: dict[str, str]


@dataclass(frozen=True)
class Tenancy:
    """One organization with a caller of each kind; ``non_member`` owns another organization."""

    org_id: UUID
    other_org_id: UUID
    callers: dict[str, Caller]

    def tasks(self, org_id: UUID | None = None) -> str:
        return f"/api/v1/organizations/{org_id or self.org_id}/tasks"


async def _caller(client: Client, tokens: dict[str, Any] | None = None) -> Caller:
    tokens = tokens or await registered(client, unique_email())
    me = await client.get("/api/v1/users/me", headers=bearer(tokens))
    return Caller(UUID(me.json()["id"]), bearer(tokens))


@pytest.fixture
async def tenancy(client: Client, container: Container, admin: dict[str, str]) -> Tenancy:
    callers = {name: await _caller(client, admin if name == "platform_admin" else None) for name in ROLES}
    members = {callers[name].id: role for name, role in ROLES.items() if role is not None}
    org_id = await create_organization(container.engine, members)
    other_org_id = await create_organization(container.engine, {callers["non_member"].id: OrgRole.OWNER})
    return Tenancy(org_id, other_org_id, callers)


async def _task(client: Client, tenancy: Tenancy, **body: Any) -> dict[str, Any]:
    response = await client.post(
        tenancy.tasks(),
        json={"title": "Ship it", "assignee_id": str(tenancy.callers["assignee"].id), **body},
        headers=tenancy.callers["creator"].headers,
    )
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


#: The contract's table: what each caller gets from each route (a task made by ``creator``
#: and assigned to ``assignee``).
PERMISSIONS = {
    "create": {"creator": 201, "assignee": 201, "member": 201, "admin": 201, "owner": 201},
    "list": {"creator": 200, "assignee": 200, "member": 200, "admin": 200, "owner": 200},
    "get": {"creator": 200, "assignee": 200, "member": 200, "admin": 200, "owner": 200},
    "update": {"creator": 200, "assignee": 200, "member": 403, "admin": 200, "owner": 200},
    "delete": {"creator": 204, "assignee": 403, "member": 403, "admin": 204, "owner": 204},
}


@pytest.mark.parametrize(("operation", "who"), [(operation, who) for operation in PERMISSIONS for who in ROLES])
async def test_the_permission_table(client: Client, tenancy: Tenancy, operation: str, who: str) -> None:
    """Members per the table; anyone else, a platform admin included, 404 as if the organization did not exist."""
    task = await _task(client, tenancy)
    one = f"{tenancy.tasks()}/{task['id']}"
    headers = tenancy.callers[who].headers
    requests = {
        "create": lambda: client.post(tenancy.tasks(), json={"title": "Mine"}, headers=headers),
        "list": lambda: client.get(tenancy.tasks(), headers=headers),
        "get": lambda: client.get(one, headers=headers),
        "update": lambda: client.patch(one, json={"status": "in_progress"}, headers=headers),
        "delete": lambda: client.delete(one, headers=headers),
    }
    response = await requests[operation]()

    expected = PERMISSIONS[operation].get(who, 404)
    if expected >= 400:
        assert_problem(response, expected, {403: "forbidden", 404: "not_found"}[expected])
        still = await client.get(one, headers=tenancy.callers["creator"].headers)
        assert still.json()["status"] == "todo"  # nothing changed
        return
    assert response.status_code == expected, response.text
    if operation == "create":
        assert response.json()["created_by"] == str(tenancy.callers[who].id)
    if operation == "list":
        assert [item["id"] for item in response.json()["items"]] == [task["id"]]
    if operation == "update":
        assert response.json()["status"] == "in_progress"
    if operation == "delete":
        assert_problem(await client.get(one, headers=tenancy.callers["creator"].headers), 404, "not_found")


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
async def test_another_organizations_task_is_not_found_through_this_ones_path(
    client: Client, container: Container, tenancy: Tenancy, method: str
) -> None:
    """``owner`` also belongs to the other organization (as its admin): each task only under its own path."""
    owner = tenancy.callers["owner"]
    await add_member(container.engine, tenancy.other_org_id, owner.id, OrgRole.ADMIN)
    created = await client.post(tenancy.tasks(tenancy.other_org_id), json={"title": "Theirs"}, headers=owner.headers)
    theirs = created.json()["id"]

    body = {"title": "Moved"} if method == "patch" else None
    response = await client.request(method.upper(), f"{tenancy.tasks()}/{theirs}", headers=owner.headers, json=body)
    assert_problem(response, 404, "not_found")
    listed = await client.get(tenancy.tasks(), headers=owner.headers)
    assert theirs not in [item["id"] for item in listed.json()["items"]]
    unchanged = await client.get(f"{tenancy.tasks(tenancy.other_org_id)}/{theirs}", headers=owner.headers)
    assert unchanged.json()["title"] == "Theirs"


async def test_a_deleted_organizations_tasks_answer_404(client: Client, container: Container, tenancy: Tenancy) -> None:
    task = await _task(client, tenancy)
    await delete_organization(container.engine, tenancy.org_id)

    owner = tenancy.callers["owner"].headers
    for response in [
        await client.get(tenancy.tasks(), headers=owner),
        await client.get(f"{tenancy.tasks()}/{task['id']}", headers=owner),
        await client.post(tenancy.tasks(), json={"title": "Late"}, headers=owner),
    ]:
        assert_problem(response, 404, "not_found")


async def test_a_task_reads_back_as_the_contract_describes(client: Client, tenancy: Tenancy) -> None:
    task = await _task(
        client, tenancy, description="Before Friday", priority="urgent", status="done",
        due_at="2027-01-01T13:00:00+01:00", tags=["release", "ops"], meta={"ticket": 42},
    )  # fmt: skip

    assert set(task) == {
        "id", "organization_id", "title", "description", "status", "priority", "assignee_id", "due_at",
        "tags", "meta", "created_by", "created_at", "updated_at", "completed_at",
    }  # fmt: skip
    assert task["organization_id"] == str(tenancy.org_id)
    assert task["due_at"] == "2027-01-01T12:00:00Z"
    assert task["completed_at"] == task["created_at"]
    assert (task["tags"], task["meta"]) == (["release", "ops"], {"ticket": 42})

    patched = await client.patch(
        f"{tenancy.tasks()}/{task['id']}",
        json={"status": "todo", "description": None, "assignee_id": None},
        headers=tenancy.callers["admin"].headers,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["completed_at"], patched.json()["description"], patched.json()["assignee_id"]) == (
        None, None, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "description": "x" * 10_001}, "description"),
        ({"title": "ok", "status": "blocked"}, "status"),
        ({"title": "ok", "priority": "critical"}, "priority"),
        ({"title": "ok", "tags": ["a", "a"]}, "tags"),
        ({"title": "ok", "tags": [f"t{n}" for n in range(21)]}, "tags"),
        ({"title": "ok", "tags": ["fine", "x" * 51]}, "tags.1"),
        ({"title": "ok", "tags": [""]}, "tags.0"),
        ({"title": "ok", "due_at": "2027-01-01T12:00:00"}, "due_at"),
        ({"title": "ok", "due_at": "9999-12-31T23:00:00-05:00"}, "due_at"),  # past year 9999 in UTC
        ({"title": "ok", "meta": {"big": "x" * 17_000}}, "meta"),
        ({"title": "ok", "meta": []}, "meta"),
        ({"title": "ok", "created_by": "0192f6f1-8a4c-7d3e-9b1a-2f3c4d5e6f70"}, "created_by"),
        ({"title": "ok", "assignee_id": "0192f6f1-8a4c-7d3e-9b1a-2f3c4d5e6f70"}, "assignee_id"),
    ],
)
async def test_bad_bodies_are_422_naming_the_field(
    client: Client, tenancy: Tenancy, body: dict[str, Any], field: str
) -> None:
    response = await client.post(tenancy.tasks(), json=body, headers=tenancy.callers["member"].headers)
    assert field in error_fields(assert_problem(response, 422, "validation_failed"))


async def test_a_patch_names_a_non_member_assignee(client: Client, tenancy: Tenancy) -> None:
    task = await _task(client, tenancy)
    response = await client.patch(
        f"{tenancy.tasks()}/{task['id']}",
        json={"assignee_id": str(tenancy.callers["non_member"].id)},
        headers=tenancy.callers["creator"].headers,
    )
    assert error_fields(assert_problem(response, 422, "validation_failed")) == {"assignee_id"}


async def test_the_listing_over_rest(client: Client, tenancy: Tenancy) -> None:
    for n, priority in enumerate(["high", "low", "urgent", "normal"]):
        await _task(client, tenancy, title=f"Task {n}", priority=priority, tags=["even" if n % 2 == 0 else "odd"])
    headers = tenancy.callers["member"].headers

    ranked = await client.get(f"{tenancy.tasks()}/", params={"order_by": "-priority"}, headers=headers)
    assert [item["priority"] for item in ranked.json()["items"]] == ["urgent", "high", "normal", "low"]
    even = await client.get(tenancy.tasks(), params={"tags__contains": "even", "order_by": "title"}, headers=headers)
    assert [item["title"] for item in even.json()["items"]] == ["Task 0", "Task 2"]
    first = await client.get(tenancy.tasks(), params={"limit": 3, "with_total": "false"}, headers=headers)
    assert (first.json()["total"], len(first.json()["items"])) == (None, 3)
    rest = await client.get(
        tenancy.tasks(), params={"limit": 3, "cursor": first.json()["next_cursor"]}, headers=headers
    )
    assert len(rest.json()["items"]) == 1
    assert rest.json()["next_cursor"] is None
    bad = await client.get(tenancy.tasks(), params={"tags": "even", "password": "x"}, headers=headers)
    assert error_fields(assert_problem(bad, 422, "validation_failed")) == {"tags", "password"}
