"""``app.v1.AuthService`` through the generated stubs: the REST rules, gRPC statuses."""

from __future__ import annotations

import re

import grpc
import grpc.aio
import jwt
from httpx import ASGITransport, AsyncClient

from app.bootstrap import build_container
from app.interfaces.grpc.v1 import auth_pb2, auth_pb2_grpc, users_pb2
from app.interfaces.http.app import create_app
from tests.conftest import make_settings
from tests.e2e.grpc_helpers import Stubs, as_dict, assert_status, bearer_metadata, serving, without_nulls
from tests.e2e.helpers import PASSWORD, Client, bearer, sign_in, sign_up

BASE_URL = "http://testserver.local"
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


async def test_sign_up_answers_the_user_as_rest_renders_it(rpc: Stubs, client: Client) -> None:
    user = await rpc.auth.SignUp(auth_pb2.SignUp(email="Ada@Example.com", password=PASSWORD, first_name="Ada"))

    assert user.email == "ada@example.com"
    assert user.first_name == "Ada"
    assert not user.HasField("last_name")  # null, not ""
    assert not user.HasField("address")
    assert (user.role, user.is_active) == ("user", True)
    assert RFC3339_UTC.match(user.created_at)
    tokens = await sign_in(client, "ada@example.com")
    rest = (await client.get("/api/v1/users/me", headers=bearer(tokens))).json()
    assert as_dict(user) == without_nulls(rest)


async def test_sign_up_keeps_an_empty_name_apart_from_none(rpc: Stubs) -> None:
    user = await rpc.auth.SignUp(auth_pb2.SignUp(email="ada@example.com", password=PASSWORD, last_name=""))

    assert user.HasField("last_name")
    assert user.last_name == ""
    assert not user.HasField("first_name")


async def test_sign_up_names_every_invalid_field(rpc: Stubs) -> None:
    request = auth_pb2.SignUp(email="not-an-email", password="short", first_name="A" * 101)

    await assert_status(
        rpc.auth.SignUp(request),
        grpc.StatusCode.INVALID_ARGUMENT,
        "validation_failed",
        fields={"email", "password", "first_name"},
    )
    await assert_status(
        rpc.auth.SignUp(auth_pb2.SignUp()),
        grpc.StatusCode.INVALID_ARGUMENT,
        "validation_failed",
        fields={"email", "password"},
    )


async def test_a_taken_email_already_exists(rpc: Stubs, client: Client) -> None:
    await sign_up(client, "ada@example.com")

    rich = await assert_status(
        rpc.auth.SignUp(auth_pb2.SignUp(email="ADA@example.com", password=PASSWORD)),
        grpc.StatusCode.ALREADY_EXISTS,
        "conflict",
    )
    assert rich.violations == {}


async def test_issue_tokens_signs_in_with_a_session(rpc: Stubs, client: Client) -> None:
    await sign_up(client, "ada@example.com")

    async with grpc.aio.insecure_channel(
        rpc.target, options=[("grpc.primary_user_agent", "test-client/1.0")]
    ) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        pair = await stub.IssueTokens(auth_pb2.IssueTokens(email="ada@example.com", password=PASSWORD))

    assert (pair.token_type, pair.expires_in, pair.refresh_expires_in) == ("bearer", 900, 1_209_600)
    assert jwt.decode(pair.access_token, options={"verify_signature": False})["sid"] == pair.session_id
    me = await rpc.users.GetMe(users_pb2.GetMe(), metadata=bearer_metadata(pair.access_token))
    assert me.email == "ada@example.com"
    sessions = (await client.get("/api/v1/auth/sessions", headers=bearer(pair.access_token))).json()
    assert [(s["id"], s["ip"]) for s in sessions] == [(pair.session_id, "127.0.0.1")]
    assert sessions[0]["user_agent"].startswith("test-client/1.0 grpc-python")


async def test_bad_credentials_are_unauthenticated_alike(rpc: Stubs, client: Client) -> None:
    await sign_up(client, "ada@example.com")

    for email, password in [("ada@example.com", "wrong password"), ("nobody@example.com", PASSWORD), ("x", PASSWORD)]:
        rich = await assert_status(
            rpc.auth.IssueTokens(auth_pb2.IssueTokens(email=email, password=password)),
            grpc.StatusCode.UNAUTHENTICATED,
            "unauthorized",
        )
        assert rich.message == "Invalid email or password"


async def test_empty_credentials_are_invalid(rpc: Stubs) -> None:
    await assert_status(
        rpc.auth.IssueTokens(auth_pb2.IssueTokens()),
        grpc.StatusCode.INVALID_ARGUMENT,
        "validation_failed",
        fields={"email", "password"},
    )
    await assert_status(
        rpc.auth.RefreshTokens(auth_pb2.RefreshTokens()),
        grpc.StatusCode.INVALID_ARGUMENT,
        "validation_failed",
        fields={"refresh_token"},
    )


async def test_refresh_rotates_and_reuse_revokes_the_session(rpc: Stubs, client: Client) -> None:
    await sign_up(client, "ada@example.com")
    first = await rpc.auth.IssueTokens(auth_pb2.IssueTokens(email="ada@example.com", password=PASSWORD))

    second = await rpc.auth.RefreshTokens(auth_pb2.RefreshTokens(refresh_token=first.refresh_token))

    assert second.session_id == first.session_id
    assert second.refresh_token != first.refresh_token
    await rpc.users.GetMe(users_pb2.GetMe(), metadata=bearer_metadata(second.access_token))
    await assert_status(
        rpc.auth.RefreshTokens(auth_pb2.RefreshTokens(refresh_token=first.refresh_token)),
        grpc.StatusCode.UNAUTHENTICATED,
        "unauthorized",
    )
    await assert_status(
        rpc.users.GetMe(users_pb2.GetMe(), metadata=bearer_metadata(second.access_token)),
        grpc.StatusCode.UNAUTHENTICATED,
        "unauthorized",
    )
    await assert_status(
        rpc.auth.RefreshTokens(auth_pb2.RefreshTokens(refresh_token="never issued")),
        grpc.StatusCode.UNAUTHENTICATED,
        "unauthorized",
    )


async def test_the_auth_rate_limit_is_one_budget_with_rest(database_url: str) -> None:
    """Same limiter, same key (the client IP): switching interface buys a guesser nothing."""
    settings = make_settings(database_url, RATE_LIMIT_AUTH="4/day")
    container = build_container(settings)
    transport = ASGITransport(app=create_app(settings, container), client=("127.0.0.1", 40000))  # type: ignore[arg-type]
    try:
        async with serving(settings, container) as stubs, AsyncClient(transport=transport, base_url=BASE_URL) as rest:
            credentials = {"email": "x@example.com", "password": PASSWORD}
            for _ in range(2):
                assert (await rest.post("/api/v1/auth/tokens", json=credentials)).status_code == 401
                await assert_status(
                    stubs.auth.IssueTokens(auth_pb2.IssueTokens(**credentials)),
                    grpc.StatusCode.UNAUTHENTICATED,
                    "unauthorized",
                )

            for call in (
                stubs.auth.SignUp(auth_pb2.SignUp(**credentials)),
                stubs.auth.IssueTokens(auth_pb2.IssueTokens(**credentials)),
                stubs.auth.RefreshTokens(auth_pb2.RefreshTokens(refresh_token="whatever")),
            ):
                rich = await assert_status(call, grpc.StatusCode.RESOURCE_EXHAUSTED, "rate_limited")
                assert rich.retry_seconds is not None
                assert 0 < rich.retry_seconds <= 86_400
            assert (await rest.post("/api/v1/auth/tokens", json=credentials)).status_code == 429
            # Only the credential-accepting calls are limited.
            await assert_status(stubs.users.GetMe(users_pb2.GetMe()), grpc.StatusCode.UNAUTHENTICATED, "unauthorized")
    finally:
        await container.close()
