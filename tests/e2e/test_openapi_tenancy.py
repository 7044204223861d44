"""The tenancy's routes in the OpenAPI document: ids, credentials, problems, schemas, listing parameters;
and a client generated from it listing organizations and members."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from httpx import ASGITransport
from litestar import Litestar

from app.application.organizations.listing import MEMBER_LISTING, ORGANIZATION_LISTING
from tests.e2e.helpers import Client, bearer, registered
from tests.e2e.tenancy import new_organization
from tests.e2e.test_generated_client import PACKAGE, generated_client, generated_package
from tests.e2e.test_openapi import PROBLEM, Document, document, operation, resolve, response_schema

__all__ = ["document", "generated_package"]  # fixtures, imported to be found

ORG = "/api/v1/organizations/{org_id}"
#: Every route of the tenancy, its operation id, and the problems it must document.
ROUTES = {
    ("POST", "/api/v1/organizations"): ("createOrganization", {"400", "401", "409", "413", "422"}),
    ("GET", "/api/v1/organizations"): ("listOrganizations", {"401", "422"}),
    ("GET", ORG): ("getOrganization", {"401", "404"}),
    ("PATCH", ORG): ("updateOrganization", {"400", "401", "403", "404", "409", "413", "422"}),
    ("DELETE", ORG): ("deleteOrganization", {"401", "403", "404"}),
    ("GET", f"{ORG}/members"): ("listMembers", {"401", "404", "422"}),
    ("PATCH", f"{ORG}/members/{{user_id}}"): ("changeMemberRole", {"400", "401", "403", "404", "409", "413", "422"}),
    ("DELETE", f"{ORG}/members/{{user_id}}"): ("removeMember", {"401", "403", "404", "409"}),
    ("POST", f"{ORG}/invitations"): ("createInvitation", {"400", "401", "403", "404", "409", "413", "422"}),
    ("GET", f"{ORG}/invitations"): ("listInvitations", {"401", "403", "404"}),
    ("DELETE", f"{ORG}/invitations/{{id}}"): ("revokeInvitation", {"401", "403", "404"}),
    ("POST", "/api/v1/invitations/accept"): ("acceptInvitation", {"400", "401", "403", "409", "413", "422"}),
}
ORGANIZATION_FIELDS = {"id", "name", "slug", "role", "created_at", "updated_at"}
MEMBER_FIELDS = {"user_id", "email", "first_name", "last_name", "role", "joined_at"}
INVITATION_FIELDS = {"id", "organization_id", "email", "role", "created_at", "expires_at"}


@pytest.mark.parametrize(("route", "expected"), list(ROUTES.items()), ids=[" ".join(r) for r in ROUTES])
def test_each_route_is_documented_with_its_id_credentials_and_problems(
    document: Document, route: tuple[str, str], expected: tuple[str, set[str]]
) -> None:
    operation_id, statuses = expected
    op = operation(document, *route)

    assert op["operationId"] == operation_id
    assert op.get("security")
    assert {} not in op["security"]
    assert statuses <= set(op["responses"])
    for status, response in op["responses"].items():
        if status[0] in "45":
            assert set(response["content"]) == {PROBLEM}, (status, response)


@pytest.mark.parametrize(
    ("route", "status", "fields"),
    [
        (("POST", "/api/v1/organizations"), "201", ORGANIZATION_FIELDS),
        (("GET", ORG), "200", ORGANIZATION_FIELDS),
        (("PATCH", f"{ORG}/members/{{user_id}}"), "200", MEMBER_FIELDS),
        (("POST", f"{ORG}/invitations"), "201", INVITATION_FIELDS),
        (("POST", "/api/v1/invitations/accept"), "200", ORGANIZATION_FIELDS),
    ],
)
def test_response_schemas_have_the_contract_fields(
    document: Document, route: tuple[str, str], status: str, fields: set[str]
) -> None:
    schema = response_schema(document, *route, status)

    assert set(schema["properties"]) == fields
    assert set(schema["required"]) == fields
    if "role" in fields:
        assert resolve(document, schema["properties"]["role"])["enum"] == ["member", "admin", "owner"]


@pytest.mark.parametrize(
    ("route", "spec"), [("/api/v1/organizations", ORGANIZATION_LISTING), (f"{ORG}/members", MEMBER_LISTING)]
)
def test_the_listings_document_one_parameter_per_filter_and_no_deleted_rows(
    document: Document, route: str, spec: Any
) -> None:
    given = {p["name"] for p in operation(document, "GET", route)["parameters"] if p["in"] == "query"}

    assert {name for name in given if "__" in name} == {name for name, _, _ in spec.filter_parameters()}
    assert {"limit", "offset", "cursor", "order_by", "with_total"} <= given
    assert "include_deleted" not in given


async def test_a_generated_client_lists_organizations_and_members_with_filters_and_cursors(
    app: Litestar, client: Client, generated_package: Path
) -> None:
    tokens = await registered(client, "ada@example.com")
    for name in ["Edsger", "Ada", "Grace", "Barbara"]:
        created = await new_organization(client, tokens, name)
    await new_organization(client, await registered(client, "other@example.com"), "Alan")

    package = await generated_client(client, generated_package)
    organizations = importlib.import_module(f"{PACKAGE}.api.organizations.list_organizations")
    members = importlib.import_module(f"{PACKAGE}.api.organizations.list_members")
    transport = ASGITransport(app=app)  # type: ignore[arg-type]  # see tests/conftest.py
    api = package.AuthenticatedClient(
        base_url=str(client.base_url), token=tokens["access_token"], httpx_args={"transport": transport}
    )

    first = await organizations.asyncio(client=api, name_ne="Grace", order_by="name", limit=2)
    assert [org.name for org in first.items] == ["Ada", "Barbara"]
    assert first.total == 3
    second = await organizations.asyncio(
        client=api, name_ne="Grace", order_by="name", limit=2, cursor=first.next_cursor
    )
    assert [org.name for org in second.items] == ["Edsger"]
    team = await members.asyncio(created["id"], client=api, role_in="owner,admin", email_istartswith="ADA")
    assert [member.email for member in team.items] == ["ada@example.com"]
    assert (await client.get("/api/v1/users/me", headers=bearer(tokens))).json()["id"] == str(team.items[0].user_id)
