"""``app.v1.TaskService`` through the generated stubs: who may do what, tenants apart, masks, listings, bad input.

The organizations and their members are rows written directly (``tests.support.tenancy``);
the people are real accounts signed in through REST, calling with their bearer tokens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import grpc
import msgspec
import pytest
from google.protobuf import field_mask_pb2, struct_pb2

from app.bootstrap import Container
from app.domain.organizations.values import OrgRole
from app.interfaces.grpc.v1 import tasks_pb2
from tests.e2e.grpc_helpers import Metadata, Stubs, as_dict, assert_status, bearer_metadata, without_nulls
from tests.e2e.helpers import Client, registered, token_claims
from tests.support.tenancy import add_member, create_organization, delete_organization

UNKNOWN_ID = "0192f6f1-8a4c-7d3e-9b1a-2f3c4d5e6f70"
OK = grpc.StatusCode.OK
DENIED = grpc.StatusCode.PERMISSION_DENIED
NOT_FOUND = grpc.StatusCode.NOT_FOUND
#: The organization's people and their roles; ``outsider`` owns another organization, and
#: ``platform_admin`` (role ``admin`` on the platform) belongs to none.
ROLES = {"creator": OrgRole.MEMBER, "assignee": OrgRole.MEMBER, "member": OrgRole.MEMBER,
         "admin": OrgRole.ADMIN, "owner": OrgRole.OWNER}  # fmt: skip


@dataclass(frozen=True)
class Tenant:
    rpc: Stubs
    container: Container
    id: str
    other_id: str
    users: dict[str, str]
    tokens: dict[str, Metadata]

    def as_(self, name: str) -> Metadata:
        return self.tokens[name]

    async def create(self, by: str = "creator", **fields: Any) -> tasks_pb2.Task:
        request = tasks_pb2.CreateTask(**{"organization_id": self.id, "title": "Write the report", **fields})
        return await self.rpc.tasks.CreateTask(request, metadata=self.as_(by))

    async def update(self, task_id: str, paths: list[str], by: str = "creator", **fields: Any) -> tasks_pb2.Task:
        request = self.update_request(task_id, paths, **fields)
        return await self.rpc.tasks.UpdateTask(request, metadata=self.as_(by))

    def update_request(self, task_id: str, paths: list[str], **fields: Any) -> tasks_pb2.UpdateTask:
        mask = field_mask_pb2.FieldMask(paths=paths)
        return tasks_pb2.UpdateTask(organization_id=self.id, id=task_id, update_mask=mask, **fields)

    async def listing(self, by: str = "member", **fields: Any) -> tasks_pb2.TaskPage:
        return await self.rpc.tasks.ListTasks(
            tasks_pb2.ListTasks(organization_id=self.id, **fields), metadata=self.as_(by)
        )


@pytest.fixture
async def tenant(rpc: Stubs, client: Client, container: Container, admin: dict[str, str]) -> Tenant:
    tokens = {name: await registered(client, f"{name}@example.com") for name in [*ROLES, "outsider"]}
    tokens["platform_admin"] = admin
    users = {name: token_claims(pair)["sub"] for name, pair in tokens.items()}
    organization_id = await create_organization(
        container.engine, {UUID(users[name]): role for name, role in ROLES.items()}
    )
    other_id = await create_organization(container.engine, {UUID(users["outsider"]): OrgRole.OWNER}, name="Other")
    metadata = {name: bearer_metadata(pair) for name, pair in tokens.items()}
    return Tenant(rpc, container, str(organization_id), str(other_id), users, metadata)


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


async def outcome(call: Awaitable[Any]) -> grpc.StatusCode:
    """OK, or the status the call failed with (checked to carry the contract's rich details)."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        code = error.code()
        await assert_status(_failing(error), code, {DENIED: "forbidden", NOT_FOUND: "not_found"}[code])
        return code
    return OK


async def _failing(error: grpc.aio.AioRpcError) -> None:
    raise error


async def assert_outcomes(expected: dict[str, grpc.StatusCode], call: Callable[[str], Awaitable[Any]]) -> None:
    actual = {name: await outcome(call(name)) for name in expected}
    assert actual == expected


# --------------------------------------------------------------------------- rendering


async def test_a_task_reads_as_the_use_case_renders_it(tenant: Tenant) -> None:
    created = await tenant.create(
        description="Quarterly", status="in_progress", priority="urgent", assignee_id=tenant.users["assignee"],
        due_at="2027-01-01T13:00:00+01:00", tags=["finance", "q1"], meta=struct({"source": "crm", "n": 3}),
    )  # fmt: skip

    read = await tenant.container.tasks.get(UUID(tenant.users["member"]), UUID(tenant.id), UUID(created.id))
    fetched = await tenant.rpc.tasks.GetTask(
        tasks_pb2.GetTask(organization_id=tenant.id, id=created.id), metadata=tenant.as_("member")
    )
    assert as_dict(created) == as_dict(fetched) == without_nulls(msgspec.to_builtins(read))
    assert (fetched.due_at, fetched.created_by, fetched.organization_id) == (
        "2027-01-01T12:00:00Z",
        tenant.users["creator"],
        tenant.id,
    )
    assert not fetched.HasField("completed_at")


async def test_a_minimal_task_has_the_contracts_defaults(tenant: Tenant) -> None:
    task = await tenant.create(by="member")

    assert (task.title, task.status, task.priority, list(task.tags), as_dict(task.meta)) == (
        "Write the report",
        "todo",
        "normal",
        [],
        {},
    )
    assert not any(task.HasField(name) for name in ("description", "assignee_id", "due_at", "completed_at"))
    assert task.created_by == tenant.users["member"]


# --------------------------------------------------------------------------- who may do what


async def test_members_create_list_and_read_others_are_not_told_the_organization_exists(tenant: Tenant) -> None:
    task = await tenant.create()
    expected = {"member": OK, "admin": OK, "owner": OK, "outsider": NOT_FOUND, "platform_admin": NOT_FOUND}

    await assert_outcomes(expected, lambda name: tenant.create(by=name))
    await assert_outcomes(expected, lambda name: tenant.listing(by=name))
    await assert_outcomes(
        expected,
        lambda name: tenant.rpc.tasks.GetTask(
            tasks_pb2.GetTask(organization_id=tenant.id, id=task.id), metadata=tenant.as_(name)
        ),
    )


async def test_the_creator_the_assignee_and_admins_may_change_a_task(tenant: Tenant) -> None:
    task = await tenant.create(assignee_id=tenant.users["assignee"])
    expected = {"creator": OK, "assignee": OK, "admin": OK, "owner": OK,
                "member": DENIED, "outsider": NOT_FOUND, "platform_admin": NOT_FOUND}  # fmt: skip

    await assert_outcomes(expected, lambda name: tenant.update(task.id, ["title"], by=name, title=f"by {name}"))

    read = await tenant.container.tasks.get(UUID(tenant.users["member"]), UUID(tenant.id), UUID(task.id))
    assert read.title == "by owner"


async def test_the_creator_and_admins_may_delete_a_task(tenant: Tenant) -> None:
    expected = {"creator": OK, "admin": OK, "owner": OK,
                "assignee": DENIED, "member": DENIED, "outsider": NOT_FOUND, "platform_admin": NOT_FOUND}  # fmt: skip
    tasks = {name: await tenant.create(assignee_id=tenant.users["assignee"]) for name in expected}

    await assert_outcomes(
        expected,
        lambda name: tenant.rpc.tasks.DeleteTask(
            tasks_pb2.DeleteTask(organization_id=tenant.id, id=tasks[name].id), metadata=tenant.as_(name)
        ),
    )

    listed = await tenant.listing()
    assert {task.id for task in listed.items} == {tasks[name].id for name, code in expected.items() if code != OK}
    await assert_status(
        tenant.rpc.tasks.GetTask(
            tasks_pb2.GetTask(organization_id=tenant.id, id=tasks["creator"].id), metadata=tenant.as_("creator")
        ),
        NOT_FOUND,
        "not_found",
    )


async def test_a_task_is_not_found_through_another_organization(tenant: Tenant) -> None:
    """A member of both organizations asks for the first one's task under the second one's id."""
    task = await tenant.create()
    await add_member(tenant.container.engine, UUID(tenant.other_id), UUID(tenant.users["creator"]), OrgRole.ADMIN)
    elsewhere = {"organization_id": tenant.other_id, "id": task.id}
    creator = tenant.as_("creator")

    for call in (
        tenant.rpc.tasks.GetTask(tasks_pb2.GetTask(**elsewhere), metadata=creator),
        tenant.rpc.tasks.UpdateTask(
            replace(tenant, id=tenant.other_id).update_request(task.id, ["title"], title="x"), metadata=creator
        ),
        tenant.rpc.tasks.DeleteTask(tasks_pb2.DeleteTask(**elsewhere), metadata=creator),
    ):
        rich = await assert_status(call, NOT_FOUND, "not_found")
        assert task.id in rich.message
    other_page = await tenant.rpc.tasks.ListTasks(
        tasks_pb2.ListTasks(organization_id=tenant.other_id), metadata=creator
    )
    assert (list(other_page.items), other_page.total) == ([], 0)


async def test_unknown_and_deleted_organizations_are_not_found(tenant: Tenant) -> None:
    task = await tenant.create()
    await assert_status(
        tenant.rpc.tasks.ListTasks(tasks_pb2.ListTasks(organization_id=UNKNOWN_ID), metadata=tenant.as_("owner")),
        NOT_FOUND,
        "not_found",
    )
    await delete_organization(tenant.container.engine, UUID(tenant.id))

    await assert_status(
        tenant.rpc.tasks.GetTask(
            tasks_pb2.GetTask(organization_id=tenant.id, id=task.id), metadata=tenant.as_("owner")
        ),
        NOT_FOUND,
        "not_found",
    )


async def test_calls_without_credentials_are_unauthenticated(rpc: Stubs) -> None:
    await assert_status(
        rpc.tasks.ListTasks(tasks_pb2.ListTasks(organization_id=UNKNOWN_ID)),
        grpc.StatusCode.UNAUTHENTICATED,
        "unauthorized",
    )


# --------------------------------------------------------------------------- field masks


async def test_only_the_masked_fields_change(tenant: Tenant) -> None:
    task = await tenant.create(description="Quarterly", tags=["finance"])

    updated = await tenant.update(task.id, ["priority", "status"], priority="high", status="done", title="Ignored")

    assert (updated.title, updated.priority, updated.status) == ("Write the report", "high", "done")
    assert (updated.description, list(updated.tags)) == ("Quarterly", ["finance"])
    assert updated.completed_at == updated.updated_at


async def test_a_masked_field_left_unset_is_cleared(tenant: Tenant) -> None:
    task = await tenant.create(
        description="Quarterly", assignee_id=tenant.users["assignee"], due_at="2027-01-01T12:00:00Z",
        tags=["finance"], meta=struct({"source": "crm"}),
    )  # fmt: skip

    updated = await tenant.update(task.id, ["description", "assignee_id", "due_at", "tags", "meta"])

    assert not any(updated.HasField(name) for name in ("description", "assignee_id", "due_at"))
    assert (list(updated.tags), as_dict(updated.meta), updated.title) == ([], {}, "Write the report")
    read = await tenant.container.tasks.get(UUID(tenant.users["member"]), UUID(tenant.id), UUID(task.id))
    assert (read.description, read.assignee_id, read.due_at, read.tags, read.meta) == (None, None, None, [], {})


@pytest.mark.parametrize(
    ("paths", "named"),
    [
        (["title", "nope"], ["'nope'"]),
        (["meta.plan", "id", "organization_id"], ["'meta.plan'", "'id'", "'organization_id'"]),
        ([], ["Name the fields to change"]),
    ],
)
async def test_a_mask_naming_no_changeable_field_is_invalid(tenant: Tenant, paths: list[str], named: list[str]) -> None:
    task = await tenant.create()

    rich = await assert_status(
        tenant.rpc.tasks.UpdateTask(
            tenant.update_request(task.id, paths, title="Changed"), metadata=tenant.as_("creator")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "validation_failed",
        fields={"update_mask"},
    )
    assert all(name in rich.violations["update_mask"] for name in named)
    read = await tenant.container.tasks.get(UUID(tenant.users["member"]), UUID(tenant.id), UUID(task.id))
    assert read.title == "Write the report"


@pytest.mark.parametrize(
    ("paths", "fields", "invalid"),
    [
        (["title"], {}, "title"),
        (["status"], {"status": "finished"}, "status"),
        (["tags"], {"tags": ["a", "a"]}, "tags"),
        (["due_at"], {"due_at": "2027-01-01T12:00:00"}, "due_at"),
        (["assignee_id"], {"assignee_id": UNKNOWN_ID}, "assignee_id"),
    ],
)
async def test_masked_values_are_held_to_the_rest_rules(
    tenant: Tenant, paths: list[str], fields: dict[str, Any], invalid: str
) -> None:
    task = await tenant.create()

    await assert_status(
        tenant.rpc.tasks.UpdateTask(tenant.update_request(task.id, paths, **fields), metadata=tenant.as_("creator")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "validation_failed",
        fields={invalid},
    )


# --------------------------------------------------------------------------- listings


async def test_list_tasks_filters_orders_and_pages_with_cursors(tenant: Tenant) -> None:
    specs = [("todo", "2027-01-03", ["urgent"]), ("done", "2027-01-05", []), ("todo", "2027-01-01", ["urgent"]),
             ("todo", "2027-01-04", []), ("in_progress", "2027-01-02", ["urgent"])]  # fmt: skip
    for status, day, tags in specs:
        await tenant.create(title=day, status=status, due_at=f"{day}T09:00:00Z", tags=tags)

    todo = await tenant.listing(filters={"status": "todo"}, order_by="-due_at")
    assert [task.title for task in todo.items] == ["2027-01-04", "2027-01-03", "2027-01-01"]
    assert (todo.total, todo.limit, todo.offset) == (3, 50, 0)
    urgent = await tenant.listing(filters={"tags__contains": "urgent", "due_at__gte": "2027-01-02T00:00:00Z"})
    assert sorted(task.title for task in urgent.items) == ["2027-01-02", "2027-01-03"]

    titles, cursor = [], ""
    for _ in specs:
        page = await tenant.listing(order_by="due_at", limit=2, cursor=cursor, with_total=False)
        assert not page.HasField("total")
        titles += [task.title for task in page.items]
        if not page.HasField("next_cursor"):
            break
        cursor = page.next_cursor
    assert titles == sorted(day for _, day, _ in specs)


@pytest.mark.parametrize(
    ("fields", "invalid"),
    [
        ({"filters": {"password_hash": "x"}}, "password_hash"),
        ({"filters": {"priority": "critical"}}, "priority"),
        ({"filters": {"limit": "5"}}, "limit"),
        # Not a field of ListTasks, and refused by the tasks' listing, which shows no deleted rows.
        ({"filters": {"include_deleted": "true"}}, "include_deleted"),
        ({"order_by": "assignee_id"}, "order_by"),
        ({"limit": 501}, "limit"),
        ({"organization_id": "42"}, "organization_id"),
    ],
)
async def test_bad_listing_parameters_are_named(tenant: Tenant, fields: dict[str, Any], invalid: str) -> None:
    request = tasks_pb2.ListTasks(**{"organization_id": tenant.id, **fields})

    await assert_status(
        tenant.rpc.tasks.ListTasks(request, metadata=tenant.as_("member")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "validation_failed",
        fields={invalid},
    )


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("fields", "invalid"),
    [
        ({"title": ""}, {"title"}),
        ({"status": "finished", "priority": "critical"}, {"status", "priority"}),
        ({"tags": ["q1", "q1"]}, {"tags"}),
        ({"due_at": "tomorrow"}, {"due_at"}),
        ({"assignee_id": UNKNOWN_ID}, {"assignee_id"}),
        ({"assignee_id": "42"}, {"assignee_id"}),
        ({"description": "x" * 10_001}, {"description"}),
    ],
)
async def test_invalid_tasks_are_refused_naming_the_fields(
    tenant: Tenant, fields: dict[str, Any], invalid: set[str]
) -> None:
    request = tasks_pb2.CreateTask(**{"organization_id": tenant.id, "title": "Write the report", **fields})

    await assert_status(
        tenant.rpc.tasks.CreateTask(request, metadata=tenant.as_("member")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "validation_failed",
        fields=invalid,
    )
    assert (await tenant.listing()).total == 0


@pytest.mark.parametrize(
    ("address", "invalid"),
    [({"organization_id": "", "id": UNKNOWN_ID}, "organization_id"), ({"id": "0192-nope"}, "id")],
)
async def test_malformed_ids_are_invalid(tenant: Tenant, address: dict[str, str], invalid: str) -> None:
    request = {"organization_id": tenant.id, **address}
    member = tenant.as_("member")

    for call in (
        tenant.rpc.tasks.GetTask(tasks_pb2.GetTask(**request), metadata=member),
        tenant.rpc.tasks.DeleteTask(tasks_pb2.DeleteTask(**request), metadata=member),
    ):
        await assert_status(call, grpc.StatusCode.INVALID_ARGUMENT, "validation_failed", fields={invalid})
