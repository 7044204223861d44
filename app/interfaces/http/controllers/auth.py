"""``/api/v1/auth``: sign-up, tokens and refresh (rate-limited), logout and sessions."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, URLEncodedBody

from app.application.auth.commands import AuthCommands
from app.application.auth.dto import ClientInfo, RefreshBody, SessionRead, TokenForm, TokenPair, TokenRequestBody
from app.application.auth.principal import Principal
from app.application.auth.queries import AuthQueries
from app.application.users.commands import UserCommands
from app.application.users.dto import SignUpBody, UserRead
from app.interfaces import callers
from app.interfaces.http.deps import auth_rate_limit
from app.interfaces.http.openapi import AUTHENTICATED, problems


def client_info(request: Request[Any, Any, Any]) -> ClientInfo:
    return callers.client_info(request.headers.get("user-agent"), request.client.host if request.client else None)


#: What a rate-limited credential check can answer besides its success.
_REFRESH_PROBLEMS = problems(400, 401, 413, 422, 429)
#: Signing in can also be refused for an unverified address (403 ``email_not_verified``, ``REQUIRE_VERIFIED_EMAIL``).
_SIGN_IN_PROBLEMS = problems(400, 401, 403, 413, 422, 429)


class SignInController(Controller):
    """The routes that take a password or a refresh token: one rate limit per client for all of them."""

    path = "/api/v1/auth"
    tags = ["auth"]
    guards = [auth_rate_limit]

    @post(
        "/sign-up",
        operation_id="signUp",
        status_code=201,
        responses=problems(400, 409, 413, 422, 429),
        summary="Register a new user",
    )
    async def sign_up(self, data: JSONBody[SignUpBody], users: NamedDependency[UserCommands]) -> UserRead:
        return await users.sign_up(data.email, data.password, data.profile())

    @post(
        "/tokens",
        operation_id="issueTokens",
        status_code=200,
        responses=_SIGN_IN_PROBLEMS,
        summary="Sign in with email and password",
    )
    async def issue_tokens(
        self, data: JSONBody[TokenRequestBody], auth: NamedDependency[AuthCommands], request: Request[Any, Any, Any]
    ) -> TokenPair:
        return await auth.issue_tokens(data.email, data.password, client_info(request))

    @post(
        "/token",
        operation_id="issueTokenForm",
        status_code=200,
        responses=_SIGN_IN_PROBLEMS,
        summary="Sign in with the OAuth2 password grant (form)",
    )
    async def issue_tokens_form(
        self,
        data: URLEncodedBody[TokenForm],
        auth: NamedDependency[AuthCommands],
        request: Request[Any, Any, Any],
    ) -> TokenPair:
        return await auth.issue_tokens(data.username, data.password, client_info(request))

    @post(
        "/tokens/refresh",
        operation_id="refreshTokens",
        status_code=200,
        responses=_REFRESH_PROBLEMS,
        summary="Rotate a refresh token; presenting a spent one revokes its session",
    )
    async def refresh(self, data: JSONBody[RefreshBody], auth: NamedDependency[AuthCommands]) -> TokenPair:
        return await auth.refresh(data.refresh_token)


class AuthController(Controller):
    """The caller's own sessions."""

    path = "/api/v1/auth"
    tags = ["auth"]

    @post(
        "/logout",
        operation_id="logout",
        status_code=204,
        security=AUTHENTICATED,
        responses=problems(401, 403),
        summary="Revoke this session",
        description="403 for an API key, which has no session: delete the key instead.",
    )
    async def logout(self, principal: NamedDependency[Principal], auth: NamedDependency[AuthCommands]) -> None:
        await auth.logout(principal)

    @get(
        "/sessions",
        operation_id="listSessions",
        security=AUTHENTICATED,
        responses=problems(401),
        summary="The caller's active sessions",
    )
    async def list_sessions(
        self, principal: NamedDependency[Principal], auth_queries: NamedDependency[AuthQueries]
    ) -> list[SessionRead]:
        return await auth_queries.list_sessions(principal)

    @delete(
        "/sessions/{session_id:uuid}",
        operation_id="revokeSession",
        status_code=204,
        security=AUTHENTICATED,
        responses=problems(400, 401, 404),
        summary="Revoke one of the caller's sessions",
    )
    async def revoke_session(
        self, session_id: FromPath[UUID], principal: NamedDependency[Principal], auth: NamedDependency[AuthCommands]
    ) -> None:
        await auth.revoke_session(principal, session_id)
