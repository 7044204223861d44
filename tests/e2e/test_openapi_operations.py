"""What a generated client sees: stable operation ids, and the listing's parameters, each honoured and bounded."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.application.listing import FieldKind, Operator
from app.application.tasks.listing import TASK_LISTING
from app.application.users.listing import USER_LISTING
from tests.e2e.helpers import Client, assert_problem, bearer, create, error_fields

Document = dict[str, Any]
METHODS = {"get", "post", "put", "patch", "delete"}
#: A value each kind's parser takes, as a query string spells it.
SAMPLES = {
    FieldKind.UUID: "0192f6f1-8a4c-7d3e-9b1a-2f3c4d5e6f70",
    FieldKind.STRING: "ada",
    FieldKind.BOOL: "true",
    FieldKind.DATE: "1990-01-31",
    FieldKind.DATETIME: "2026-01-31T12:00:00Z",
    FieldKind.ENUM: "admin",
}


@pytest.fixture
async def document(client: Client) -> Document:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    body: Document = response.json()
    return body


def operations(document: Document) -> list[dict[str, Any]]:
    return [op for item in document["paths"].values() for method, op in item.items() if method in METHODS]


def parameters(document: Document) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in document["paths"]["/api/v1/users"]["get"]["parameters"] if p["in"] == "query"}


def test_every_operation_has_a_unique_camel_case_id(document: Document) -> None:
    ids = [op.get("operationId") for op in operations(document)]

    assert len(ids) >= 24
    assert [i for i in ids if not isinstance(i, str) or not re.fullmatch(r"[a-z][a-zA-Z0-9]*", i)] == []
    assert len(set(ids)) == len(ids)
    assert {"signUp", "issueTokens", "listUsers", "getMe", "bulkCreateUsers", "live", "metrics"} <= set(ids)


def test_the_listing_documents_paging_with_its_bounds(document: Document) -> None:
    given = parameters(document)

    assert given["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
    assert given["offset"]["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
    assert given["with_total"]["schema"] == {"type": "boolean", "default": True}
    assert given["include_deleted"]["schema"] == {"type": "boolean", "default": False}
    assert given["cursor"]["schema"]["type"] == "string"
    assert re.fullmatch(given["order_by"]["schema"]["pattern"], "-created_at,email")
    assert not re.fullmatch(given["order_by"]["schema"]["pattern"], "password_hash")
    assert all(not p.get("required") for p in given.values())


def test_the_listing_documents_one_parameter_per_filter(document: Document) -> None:
    filters = {name for name in parameters(document) if "__" in name}

    assert filters == {name for name, _, _ in USER_LISTING.filter_parameters()}
    assert {"email__ilike", "created_at__gte", "role__in", "address.city__eq", "phone__isnull"} <= filters
    assert "id__like" not in filters  # no text match on a uuid


async def test_every_documented_filter_is_honoured(client: Client, admin: dict[str, str], document: Document) -> None:
    """Each documented ``field__op`` is accepted with a value of its kind, and narrows the listing."""
    await create(client, admin, email="someone@example.com")
    everyone = (await client.get("/api/v1/users", headers=bearer(admin))).json()["total"]
    for name, field, op in USER_LISTING.filter_parameters():
        value = SAMPLES[field.kind]
        if op is Operator.ISNULL:
            value = "true"
        response = await client.get("/api/v1/users", params={name: value}, headers=bearer(admin))
        assert response.status_code == 200, (name, response.text)
        assert response.json()["total"] <= everyone, name
    ruled_out = await client.get("/api/v1/users", params={"email__eq": "nobody@example.com"}, headers=bearer(admin))
    assert ruled_out.json()["total"] == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [("limit", "0"), ("limit", "501"), ("offset", "-1"), ("offset", str(2**31)), ("with_total", "yes")],
)
async def test_paging_outside_its_documented_bounds_is_refused(
    client: Client, admin: dict[str, str], name: str, value: str
) -> None:
    response = await client.get("/api/v1/users", params={name: value}, headers=bearer(admin))

    assert error_fields(assert_problem(response, 422, "validation_failed")) == {name}


#: Every task route's operation and the problems it documents (404: not a member, or no such task).
_TASKS = "/api/v1/organizations/{org_id}/tasks"
_TASK = _TASKS + "/{task_id}"
TASK_OPERATIONS = {
    (_TASKS, "post"): ("createTask", {"400", "401", "404", "413", "422"}),
    (_TASKS, "get"): ("listTasks", {"400", "401", "404", "422"}),
    (_TASK, "get"): ("getTask", {"400", "401", "404"}),
    (_TASK, "patch"): ("updateTask", {"400", "401", "403", "404", "413", "422"}),
    (_TASK, "delete"): ("deleteTask", {"400", "401", "403", "404"}),
}


@pytest.mark.parametrize(("path", "method"), TASK_OPERATIONS)
def test_each_task_route_names_its_operation_and_problems(document: Document, path: str, method: str) -> None:
    operation = document["paths"][path][method]
    operation_id, problem_statuses = TASK_OPERATIONS[path, method]

    assert operation["operationId"] == operation_id
    assert problem_statuses <= set(operation["responses"])
    for status in problem_statuses:
        assert "application/problem+json" in operation["responses"][status]["content"]


def test_the_task_listing_documents_its_filters_and_contains(document: Document) -> None:
    given = {p["name"]: p for p in document["paths"][_TASKS]["get"]["parameters"]}

    assert {name for name in given if "__" in name} == {name for name, _, _ in TASK_LISTING.filter_parameters()}
    assert given["tags__contains"]["schema"]["type"] == "string"
    assert "tags__eq" not in given
    assert "include_deleted" not in given  # a deleted task is gone for its members
    assert given["priority__eq"]["schema"]["enum"] == ["low", "normal", "high", "urgent"]
    assert re.fullmatch(given["order_by"]["schema"]["pattern"], "-priority,due_at")
    assert not re.fullmatch(given["order_by"]["schema"]["pattern"], "tags")
