"""Values the service could accept but not store, cache, encode or send back: refused, never a 500.

``meta`` numbers beyond ±(2^53 - 1) on every write path, a client address that is no IP,
an API key expiry without an offset or past year 9999 in UTC, a signed token whose times
no float holds, out-of-range dates in a profile or a listing. And a user who once wrote
such a value keeps a working account on every transport, the authentication cache
included.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import grpc
import pytest
from google.protobuf import json_format
from httpx import ASGITransport, AsyncClient
from litestar import Litestar
from litestar.types import Scope
from sqlalchemy import update

from app.application.users.dto import META_MAX_DEPTH, META_MAX_NUMBER
from app.bootstrap import Container, build_container
from app.infrastructure.config import Settings
from app.infrastructure.db.models import UserModel
from app.interfaces.grpc.v1 import users_pb2
from app.interfaces.http.app import create_app
from tests.conftest import make_settings
from tests.e2e.conftest import ADMIN_EMAIL
from tests.e2e.grpc_helpers import Stubs, assert_status, bearer_metadata, serving
from tests.e2e.helpers import (
    PASSWORD,
    Client,
    api_key,
    assert_problem,
    bearer,
    create,
    error_fields,
    new_key,
    registered,
    sign_in,
    sign_up,
    signed_token,
)

ME = "/api/v1/users/me"
USERS = "/api/v1/users"

#: Just past the bound, at each width some store or transport breaks at (a double's 53
#: bits, int64, uint64), far beyond it, and the floats PostgreSQL's ``jsonb`` turns into
#: integers of that size.
OUT_OF_RANGE = [
    META_MAX_NUMBER + 1,
    -(META_MAX_NUMBER + 1),
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**30,
    10**400,
    -(10**400),
    1e16,
    1.5e308,
    -1e300,
]
#: Numbers every transport gives back exactly, the bounds included.
IN_RANGE = [META_MAX_NUMBER, -META_MAX_NUMBER, 0, -1.5, 0.1, 1e15, 1e-300, 5e-324, 9007199254740991.0]


def _placed(placement: str, value: Any) -> tuple[dict[str, Any], str]:
    """``meta`` holding ``value`` at ``placement``, and the path a 422 must name."""
    if placement == "top":
        return {"plan": "pro", "n": value}, "meta.n"
    if placement == "nested":
        return {"a": {"b": value}}, "meta.a.b"
    if placement == "list":
        return {"a": [1, "x", value]}, "meta.a.2"
    deep: Any = value
    for _ in range(META_MAX_DEPTH - 1):
        deep = {"d": deep}
    return deep, "meta" + ".d" * (META_MAX_DEPTH - 1)


PLACEMENTS = ["top", "nested", "list", "deepest"]


async def _self_patch(client: Client, admin: dict[str, str], meta: dict[str, Any]) -> tuple[Any, str]:
    tokens = await registered(client, f"{uuid.uuid4().hex[:10]}@example.com")
    return await client.patch(ME, json={"meta": meta}, headers=bearer(tokens)), ""


async def _admin_create(client: Client, admin: dict[str, str], meta: dict[str, Any]) -> tuple[Any, str]:
    body = {"email": f"{uuid.uuid4().hex[:10]}@example.com", "meta": meta}
    return await client.post(USERS, json=body, headers=bearer(admin)), ""


async def _admin_patch(client: Client, admin: dict[str, str], meta: dict[str, Any]) -> tuple[Any, str]:
    user = await create(client, admin, email=f"{uuid.uuid4().hex[:10]}@example.com")
    return await client.patch(f"{USERS}/{user['id']}", json={"meta": meta}, headers=bearer(admin)), ""


async def _bulk_create(client: Client, admin: dict[str, str], meta: dict[str, Any]) -> tuple[Any, str]:
    items = [{"email": f"{uuid.uuid4().hex[:10]}@example.com", **({"meta": meta} if i == 1 else {})} for i in range(2)]
    return await client.post(f"{USERS}/bulk", json={"items": items}, headers=bearer(admin)), "items.1."


async def _bulk_patch(client: Client, admin: dict[str, str], meta: dict[str, Any]) -> tuple[Any, str]:
    users = [await create(client, admin, email=f"{uuid.uuid4().hex[:10]}@example.com") for _ in range(3)]
    items = [{"id": user["id"], "meta": meta if i == 2 else {"ok": i}} for i, user in enumerate(users)]
    return await client.patch(f"{USERS}/bulk", json={"items": items}, headers=bearer(admin)), "items.2."


WriteMeta = Callable[[Client, dict[str, str], dict[str, Any]], Any]
WRITE_PATHS: dict[str, WriteMeta] = {
    "self PATCH": _self_patch,
    "admin create": _admin_create,
    "admin PATCH": _admin_patch,
    "bulk create": _bulk_create,
    "bulk PATCH": _bulk_patch,
}


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("write", WRITE_PATHS.values(), ids=WRITE_PATHS.keys())
async def test_meta_numbers_beyond_the_bound_are_refused_naming_their_path(
    client: Client, admin: dict[str, str], write: WriteMeta, placement: str
) -> None:
    for value in OUT_OF_RANGE:
        meta, path = _placed(placement, value)
        response, prefix = await write(client, admin, meta)

        body = assert_problem(response, 422, "validation_failed")
        assert error_fields(body) == {f"{prefix}{path}"}, (value, body)


@pytest.mark.parametrize("placement", PLACEMENTS)
async def test_meta_numbers_within_the_bound_come_back_exactly(
    client: Client, admin: dict[str, str], rpc: Stubs, placement: str
) -> None:
    """Stored in PostgreSQL, read over REST and gRPC (a ``Struct`` of doubles): the same numbers."""
    tokens = await registered(client, "ada@example.com")
    for value in IN_RANGE:
        meta, _ = _placed(placement, value)
        assert (await client.patch(ME, json={"meta": meta}, headers=bearer(tokens))).status_code == 200

        assert (await client.get(ME, headers=bearer(tokens))).json()["meta"] == meta, value
        me = await rpc.users.GetMe(users_pb2.GetMe(), metadata=bearer_metadata(tokens))
        assert _struct_numbers(me.meta) == _numbers(meta), value


def _numbers(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [n for child in value.values() for n in _numbers(child)]
    if isinstance(value, list):
        return [n for child in value for n in _numbers(child)]
    return [value] if isinstance(value, int | float) and not isinstance(value, bool) else []


def _struct_numbers(struct: Any) -> list[float]:
    return _numbers(json_format.MessageToDict(struct))


# --- The account of a user who wrote (or was given) such a value --------------------------


@pytest.fixture
async def cached(settings: Settings, redis_url: str) -> AsyncIterator[tuple[Container, Client, Stubs]]:
    """The service with the Redis authentication cache, over REST and gRPC, as deployed."""
    container = build_container(
        make_settings(settings.database_url, REDIS_URL=redis_url, SECRET_KEY=settings.secret_key)
    )
    transport = ASGITransport(app=create_app(container.settings, container))  # type: ignore[arg-type]
    async with (
        AsyncClient(transport=transport, base_url="http://testserver.local") as client,
        serving(container.settings, container) as stubs,
    ):
        yield container, client, stubs
    await container.close()


async def _account_works(client: Client, stubs: Stubs, email: str, admin: dict[str, str]) -> None:
    """Everything the user (and an administrator listing them) does, twice: a miss, then the cache."""
    tokens = await sign_in(client, email)
    key = await new_key(client, tokens)
    for _ in range(2):
        for headers in (bearer(tokens), api_key(key)):
            assert (await client.get(ME, headers=headers)).status_code == 200
            assert (await client.get("/api/v1/auth/sessions", headers=headers)).status_code == 200
            assert (await client.get("/api/v1/api-keys", headers=headers)).status_code == 200
        me = await stubs.users.GetMe(users_pb2.GetMe(), metadata=bearer_metadata(tokens))
        assert me.email == email
        assert (await client.get(USERS, headers=bearer(admin))).status_code == 200
        page = await stubs.users.ListUsers(users_pb2.ListUsers(), metadata=bearer_metadata(admin))
        assert email in {user.email for user in page.items}


async def test_after_the_refused_patch_the_account_still_works(
    cached: tuple[Container, Client, Stubs],
) -> None:
    """The example that locked a user out: ``{"meta": {"n": 2^64}}`` then every request a 500."""
    container, client, stubs = cached
    await container.users.create_admin(ADMIN_EMAIL, PASSWORD)
    admin = await sign_in(client, ADMIN_EMAIL)
    tokens = await registered(client, "ada@example.com")
    await client.get(ME, headers=bearer(tokens))  # cached before the write, as in the attack

    response = await client.patch(ME, json={"meta": {"n": 2**64}}, headers=bearer(tokens))

    assert error_fields(assert_problem(response, 422, "validation_failed")) == {"meta.n"}
    await _account_works(client, stubs, "ada@example.com", admin)


@pytest.mark.parametrize("value", [2**63, 2**64, -(2**63) - 1, 10**30, 1e20, 10**400, -(10**400)])
async def test_a_value_stored_before_the_bound_does_not_lock_the_user_out(
    cached: tuple[Container, Client, Stubs], value: float
) -> None:
    """Rows written before ``meta`` was bounded: the cache skips what it cannot encode."""
    container, client, stubs = cached
    await container.users.create_admin(ADMIN_EMAIL, PASSWORD)
    admin = await sign_in(client, ADMIN_EMAIL)
    await registered(client, "ada@example.com")
    async with container.engine.begin() as connection:
        await connection.execute(
            update(UserModel).where(UserModel.email == "ada@example.com").values(meta={"n": value})
        )

    await _account_works(client, stubs, "ada@example.com", admin)


# --- Client addresses ---------------------------------------------------------------------


def _from(app: Litestar, host: str) -> AsyncClient:
    """A client whose address (as uvicorn sets it from a trusted ``X-Forwarded-For``) is ``host``."""

    async def as_host(scope: Any, receive: Any, send: Any) -> None:
        await app(cast("Scope", {**scope, "client": (host, 50000)}), receive, send)

    return AsyncClient(transport=ASGITransport(app=as_host), base_url="http://testserver.local")


@pytest.mark.parametrize(
    ("host", "recorded"),
    [
        ("a" * 65, None),
        ("1" * 300, None),
        ("203.0.113.9, 198.51.100.7", None),
        ("fe80::1%" + "x" * 80, "fe80::1"),
        ("unix:/run/" + "d" * 80 + "/app.sock", None),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("203.0.113.9", "203.0.113.9"),
    ],
    ids=["65 letters", "300 digits", "a list", "long IPv6 zone", "socket path", "uncompressed IPv6", "IPv4"],
)
async def test_a_session_records_an_address_or_nothing(
    app: Litestar, client: Client, host: str, recorded: str | None
) -> None:
    await sign_up(client, "ada@example.com")
    async with _from(app, host) as remote:
        json_tokens = await sign_in(remote, "ada@example.com")
        form = await remote.post("/api/v1/auth/token", data={"username": "ada@example.com", "password": PASSWORD})
        assert form.status_code == 200, form.text

        sessions = (await remote.get("/api/v1/auth/sessions", headers=bearer(json_tokens))).json()
    assert {session["ip"] for session in sessions} == {recorded}


# --- API key expiry -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expires_at",
    [
        "2030-01-01T00:00:00",
        "2030-01-01T00:00:00.123456",
        "9999-12-31T23:59:59-00:01",
        "9999-12-31T20:00:00-05:00",
        "9999-12-31T23:59:59.999999-23:59",
        "0001-01-01T00:30:00+01:00",
        "2030-01-01",
        "4102444800",
        4102444800,
        4102444800.5,
        True,
    ],
)
async def test_an_api_key_expiry_without_offset_or_beyond_year_9999_is_a_422(client: Client, expires_at: Any) -> None:
    tokens = await registered(client, "ada@example.com")

    response = await client.post(
        "/api/v1/api-keys", json={"name": "ci", "expires_at": expires_at}, headers=bearer(tokens)
    )

    assert error_fields(assert_problem(response, 422, "validation_failed")) == {"expires_at"}
    assert (await client.get("/api/v1/api-keys", headers=bearer(tokens))).json() == []


@pytest.mark.parametrize(
    "expires_at", ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59+14:00", "2030-01-01T09:00:00+09:00"]
)
async def test_an_api_key_expiry_up_to_year_9999_in_utc_is_kept_in_utc(client: Client, expires_at: str) -> None:
    tokens = await registered(client, "ada@example.com")

    key = await new_key(client, tokens, expires_at=expires_at)

    assert key["expires_at"].endswith("Z")
    assert (await client.get(ME, headers=api_key(key))).status_code == 200
    assert [
        listed["expires_at"] for listed in (await client.get("/api/v1/api-keys", headers=bearer(tokens))).json()
    ] == [key["expires_at"]]


# --- Signed tokens with times no float holds -------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 10**400},
        {"exp": -(10**400)},
        {"exp": 10**309},
        {"exp": float("inf")},
        {"exp": float("nan")},
        {"exp": 10**400, "iat": 10**400, "nbf": 10**400},
        {"iat": 10**400},
        {"iat": float("inf")},
        {"nbf": 10**400},
        {"nbf": float("-inf")},
    ],
    ids=lambda claims: f"{next(iter(claims))}={str(next(iter(claims.values())))[:12]}",
)
async def test_a_signed_token_with_an_unrepresentable_time_is_a_401(
    client: Client, rpc: Stubs, settings: Settings, claims: dict[str, Any]
) -> None:
    token = signed_token(await registered(client, "ada@example.com"), settings.secret_key, **claims)

    assert_problem(await client.get(ME, headers=bearer(token)), 401, "unauthorized")
    await assert_status(
        rpc.users.GetMe(users_pb2.GetMe(), metadata=bearer_metadata(token)),
        grpc.StatusCode.UNAUTHENTICATED,
        "unauthorized",
    )


# --- Dates out of range -----------------------------------------------------------------------


@pytest.mark.parametrize("birthday", ["0000-12-31", "10000-01-01", "+10000-01-01", "-0001-01-01", "99999-01-01"])
async def test_a_birthday_outside_years_1_to_9999_is_a_422(
    client: Client, admin: dict[str, str], birthday: str
) -> None:
    tokens = await registered(client, "ada@example.com")

    for response, field in [
        (await client.patch(ME, json={"birthday": birthday}, headers=bearer(tokens)), "birthday"),
        (
            await client.post(USERS, json={"email": "b@example.com", "birthday": birthday}, headers=bearer(admin)),
            "birthday",
        ),
    ]:
        assert error_fields(assert_problem(response, 422, "validation_failed")) == {field}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("created_at__gt", "9999-12-31T23:59:59-00:01"),
        ("created_at__lt", "0001-01-01T00:00:00+00:01"),
        ("updated_at", "99999-01-01T00:00:00Z"),
        ("birthday__gte", "10000-01-01"),
        ("birthday__in", "2000-01-01,0000-01-01"),
        ("limit", "9" * 400),
        ("offset", "9" * 5000),
        ("cursor", "A" * 400 + "." + "B" * 43),
    ],
)
async def test_listing_values_out_of_range_are_a_422(
    client: Client, admin: dict[str, str], name: str, value: str
) -> None:
    response = await client.get(USERS, params={name: value}, headers=bearer(admin))

    assert error_fields(assert_problem(response, 422, "validation_failed")) == {name}
