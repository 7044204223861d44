"""``app.v1.AuthService`` and ``UserService``: each method calls what its REST route calls.

Thin on purpose: convert the request to the REST DTO, call the one use case, convert the
answer. Authentication, the rate limit and error statuses are the interceptors' work.
"""

from __future__ import annotations

from app.application.auth.commands import AuthCommands
from app.application.auth.dto import RefreshBody, TokenRequestBody
from app.application.users.admin import UserAdministration
from app.application.users.commands import UserCommands
from app.application.users.dto import SignUpBody
from app.application.users.queries import get_me
from app.infrastructure.setting_values import TrustedProxies
from app.interfaces import callers
from app.interfaces.grpc.calls import Context, client_address, current_principal, metadata_value
from app.interfaces.grpc.messages import (
    UserLookup,
    listing_parameters,
    to_body,
    to_message,
)
from app.interfaces.grpc.v1 import auth_pb2, auth_pb2_grpc, users_pb2, users_pb2_grpc


class AuthService(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, users: UserCommands, auth: AuthCommands, trusted: TrustedProxies) -> None:
        self._users = users
        self._auth = auth
        self._trusted = trusted

    async def SignUp(self, request: auth_pb2.SignUp, context: Context) -> users_pb2.User:
        body = to_body(request, SignUpBody)
        return to_message(await self._users.sign_up(body.email, body.password, body.profile()), users_pb2.User)

    async def IssueTokens(self, request: auth_pb2.IssueTokens, context: Context) -> auth_pb2.TokenPair:
        body = to_body(request, TokenRequestBody)
        client = callers.client_info(metadata_value(context, "user-agent"), client_address(context, self._trusted))
        return to_message(await self._auth.issue_tokens(body.email, body.password, client), auth_pb2.TokenPair)

    async def RefreshTokens(self, request: auth_pb2.RefreshTokens, context: Context) -> auth_pb2.TokenPair:
        body = to_body(request, RefreshBody)
        return to_message(await self._auth.refresh(body.refresh_token), auth_pb2.TokenPair)


class UserService(users_pb2_grpc.UserServiceServicer):
    def __init__(self, administration: UserAdministration) -> None:
        self._administration = administration

    async def GetMe(self, request: users_pb2.GetMe, context: Context) -> users_pb2.User:
        return to_message(get_me(current_principal()), users_pb2.User)

    async def GetUser(self, request: users_pb2.GetUser, context: Context) -> users_pb2.User:
        callers.require_admin(current_principal())
        lookup = to_body(request, UserLookup)
        user = await self._administration.get(lookup.id, include_deleted=lookup.include_deleted)
        return to_message(user, users_pb2.User)

    async def ListUsers(self, request: users_pb2.ListUsers, context: Context) -> users_pb2.UserPage:
        callers.require_admin(current_principal())
        page = await self._administration.list_users(listing_parameters(request))
        return to_message(page, users_pb2.UserPage)
