"""``app.v1.UserService`` through the generated stubs: credentials, the admin rule, lookups and listings."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from app.interfaces.grpc.v1 import users_pb2
from tests.e2e.grpc_helpers import Metadata, Stubs, as_dict, assert_status, bearer_metadata, without_nulls
from tests.e2e.helpers import Client, bearer, create, registered

UNKNOWN_ID = "0192f6f1-8a4c-7d3e-9b1a-2f3c4d5e6f70"


@pytest.fixture
async def people(client: Client, admin: dict[str, str]) -> list[dict[str, Any]]:
    return [
        await create(client, admin, email=f"p{i}@example.com", first_name=name, meta={"plan": plan})
        for i, (name, plan) in enumerate([("Ada", "pro"), ("Grace", "free"), ("Alan", "pro"), (None, "team")])
    ]


async def test_the_same_account_across_rest_and_grpc(rpc: Stubs, client: Client) -> None:
    """Signed up and in by REST, read by gRPC, logged out by REST: gRPC refuses the token at once."""
    tokens = await registered(client, "ada@example.com")

    me = await rpc.users.GetMe(users_pb2.GetMe(), metadata=bearer_metadata(tokens))
    rest = (await client.get("/api/v1/users/me", headers=bearer(tokens))).json()
    assert as_dict(me) == without_nulls(rest)

    assert (await client.post("/api/v1/auth/logout", headers=bearer(tokens))).status_code == 204
    await assert_status(
        rpc.users.GetMe(users_pb2.GetMe(), metadata=bearer_metadata(tokens)),
        grpc.StatusCode.UNAUTHENTICATED,
        "unauthorized",
    )


async def test_an_api_key_acts_as_its_owner(rpc: Stubs, client: Client) -> None:
    tokens = await registered(client, "ada@example.com")
    created = (await client.post("/api/v1/api-keys", json={"name": "ci"}, headers=bearer(tokens))).json()

    me = await rpc.users.GetMe(users_pb2.GetMe(), metadata=(("x-api-key", created["key"]),))

    assert me.email == "ada@example.com"
    assert (await client.delete(f"/api/v1/api-keys/{created['id']}", headers=bearer(tokens))).status_code == 204
    await assert_status(
        rpc.users.GetMe(users_pb2.GetMe(), metadata=(("x-api-key", created["key"]),)),
        grpc.StatusCode.UNAUTHENTICATED,
        "unauthorized",
    )


@pytest.mark.parametrize(
    "metadata",
    [
        (),
        (("authorization", "Bearer"),),
        (("authorization", "Basic YWRhOnNlY3JldA=="),),
        (("authorization", "Bearer not.a.jwt"),),
        (("x-api-key", "ak_unknown"),),
    ],
)
async def test_missing_or_bad_credentials_are_unauthenticated(rpc: Stubs, metadata: Metadata) -> None:
    for call in (
        rpc.users.GetMe(users_pb2.GetMe(), metadata=metadata),
        rpc.users.GetUser(users_pb2.GetUser(id=UNKNOWN_ID), metadata=metadata),
        rpc.users.ListUsers(users_pb2.ListUsers(), metadata=metadata),
    ):
        await assert_status(call, grpc.StatusCode.UNAUTHENTICATED, "unauthorized")


async def test_administration_is_for_admins(rpc: Stubs, client: Client, admin: dict[str, str]) -> None:
    tokens = await registered(client, "ada@example.com")
    me = await rpc.users.GetMe(users_pb2.GetMe(), metadata=bearer_metadata(tokens))

    for call in (
        rpc.users.GetUser(users_pb2.GetUser(id=me.id), metadata=bearer_metadata(tokens)),
        rpc.users.ListUsers(users_pb2.ListUsers(), metadata=bearer_metadata(tokens)),
    ):
        await assert_status(call, grpc.StatusCode.PERMISSION_DENIED, "forbidden")
    found = await rpc.users.GetUser(users_pb2.GetUser(id=me.id), metadata=bearer_metadata(admin))
    assert found == me


async def test_get_user_renders_every_field_as_rest(rpc: Stubs, client: Client, admin: dict[str, str]) -> None:
    created = await create(
        client,
        admin,
        email="grace@example.com",
        first_name="Grace",
        phone="+1 555 0100",
        birthday="1906-12-09",
        photo_url="https://example.com/grace.png",
        address={"city": "Arlington", "country": "US"},
        meta={"plan": "pro", "flags": ["navy", "cobol"], "nested": {"ok": True}},
        role="admin",
    )

    user = await rpc.users.GetUser(users_pb2.GetUser(id=created["id"]), metadata=bearer_metadata(admin))

    assert as_dict(user) == without_nulls({**created, "address": without_nulls(created["address"])})
    assert user.address.HasField("city")
    assert not user.address.HasField("street")
    assert user.birthday == "1906-12-09"


async def test_get_user_finds_soft_deleted_users_only_when_asked(
    rpc: Stubs, client: Client, admin: dict[str, str]
) -> None:
    created = await create(client, admin, email="gone@example.com")
    assert (await client.delete(f"/api/v1/users/{created['id']}", headers=bearer(admin))).status_code == 204

    await assert_status(
        rpc.users.GetUser(users_pb2.GetUser(id=created["id"]), metadata=bearer_metadata(admin)),
        grpc.StatusCode.NOT_FOUND,
        "not_found",
    )
    found = await rpc.users.GetUser(
        users_pb2.GetUser(id=created["id"], include_deleted=True), metadata=bearer_metadata(admin)
    )
    assert found.email == "gone@example.com"


async def test_unknown_and_malformed_ids(rpc: Stubs, admin: dict[str, str]) -> None:
    rich = await assert_status(
        rpc.users.GetUser(users_pb2.GetUser(id=UNKNOWN_ID), metadata=bearer_metadata(admin)),
        grpc.StatusCode.NOT_FOUND,
        "not_found",
    )
    assert UNKNOWN_ID in rich.message
    for malformed in ("", "42", "0192f6f1-8a4c-7d3e-9b1a-2f3c4d5e6f7z"):
        await assert_status(
            rpc.users.GetUser(users_pb2.GetUser(id=malformed), metadata=bearer_metadata(admin)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "validation_failed",
            fields={"id"},
        )


async def test_list_users_filters_and_orders_like_rest(
    rpc: Stubs, client: Client, admin: dict[str, str], people: list[dict[str, Any]]
) -> None:
    request = users_pb2.ListUsers(filters={"meta.plan": "pro"}, order_by="first_name")

    page = await rpc.users.ListUsers(request, metadata=bearer_metadata(admin))

    assert [u.first_name for u in page.items] == ["Ada", "Alan"]
    assert (page.total, page.limit, page.offset) == (2, 50, 0)
    assert not page.HasField("next_cursor")
    rest = (
        await client.get("/api/v1/users", params={"meta.plan": "pro", "order_by": "first_name"}, headers=bearer(admin))
    ).json()
    assert [as_dict(u) for u in page.items] == [without_nulls(u) for u in rest["items"]]

    nameless = await rpc.users.ListUsers(
        users_pb2.ListUsers(filters={"first_name__isnull": "true", "role": "user"}, with_total=False),
        metadata=bearer_metadata(admin),
    )
    assert [u.email for u in nameless.items] == ["p3@example.com"]
    assert not nameless.HasField("total")


async def test_list_users_walks_every_user_once_by_cursor(
    rpc: Stubs, admin: dict[str, str], people: list[dict[str, Any]]
) -> None:
    request = users_pb2.ListUsers(order_by="email", limit=2)
    seen: list[str] = []
    while True:
        page = await rpc.users.ListUsers(request, metadata=bearer_metadata(admin))
        seen.extend(u.email for u in page.items)
        if not page.HasField("next_cursor"):
            break
        assert page.limit == 2
        request = users_pb2.ListUsers(order_by="email", limit=2, cursor=page.next_cursor)
        assert len(seen) < 10, "the cursor does not advance"

    assert seen == [*sorted(p["email"] for p in people), "root@example.com"]
    skipped = await rpc.users.ListUsers(
        users_pb2.ListUsers(order_by="email", limit=2, offset=3), metadata=bearer_metadata(admin)
    )
    assert [u.email for u in skipped.items] == seen[3:5]
    assert skipped.offset == 3


async def test_bad_listing_parameters_are_each_named(rpc: Stubs, admin: dict[str, str]) -> None:
    bad = users_pb2.ListUsers(
        filters={"password_hash": "x", "created_at__gte": "yesterday", "email__regex": "a.*", "meta.$bad": "1"},
        order_by="password_hash",
        limit=0,
    )

    await assert_status(
        rpc.users.ListUsers(bad, metadata=bearer_metadata(admin)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "validation_failed",
        fields={"password_hash", "created_at__gte", "email__regex", "meta.$bad", "order_by", "limit"},
    )
    for request, fields in [
        (users_pb2.ListUsers(limit=501), {"limit"}),
        (users_pb2.ListUsers(cursor="forged.cursor"), {"cursor"}),
        (users_pb2.ListUsers(cursor="forged.cursor", offset=1), {"offset", "cursor"}),
        (users_pb2.ListUsers(filters={"limit": "5", "cursor": "x"}), {"limit", "cursor"}),
    ]:
        await assert_status(
            rpc.users.ListUsers(request, metadata=bearer_metadata(admin)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "validation_failed",
            fields=fields,
        )
