"""``/api/v1/users/me``: the caller's own account."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from app.application.auth.principal import Principal
from app.application.users.commands import UserCommands
from app.application.users.dto import PasswordChangeBody, ProfilePatch, UserRead
from app.application.users.queries import get_me
from app.interfaces.http.openapi import AUTHENTICATED, LAST_ADMIN_RULE, problems


class MeController(Controller):
    path = "/api/v1/users/me"
    tags = ["users"]
    security = AUTHENTICATED

    @get(operation_id="getMe", responses=problems(401), summary="The caller's profile")
    async def read(self, principal: NamedDependency[Principal]) -> UserRead:
        return get_me(principal)

    @patch(
        operation_id="updateMe",
        responses=problems(400, 401, 413, 422),
        summary="Change profile fields; absent fields stay as they are",
    )
    async def update(
        self, data: JSONBody[ProfilePatch], principal: NamedDependency[Principal], users: NamedDependency[UserCommands]
    ) -> UserRead:
        return await users.update_profile(principal, data.changes())

    @post(
        "/password",
        operation_id="changePassword",
        status_code=204,
        responses=problems(400, 401, 413, 422),
        summary="Change password; every other session is revoked",
    )
    async def change_password(
        self,
        data: JSONBody[PasswordChangeBody],
        principal: NamedDependency[Principal],
        users: NamedDependency[UserCommands],
    ) -> None:
        await users.change_password(principal, data.current_password, data.new_password)

    @delete(
        operation_id="deactivateMe",
        status_code=204,
        responses=problems(401, 409),
        summary="Deactivate the account and revoke all its sessions",
        description=LAST_ADMIN_RULE,
    )
    async def deactivate(self, principal: NamedDependency[Principal], users: NamedDependency[UserCommands]) -> None:
        await users.deactivate(principal)
