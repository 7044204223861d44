"""``/api/v1/users``: user administration, for the ``admin`` role only."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter

from app.application.listing import Page
from app.application.users.admin import UserAdministration
from app.application.users.dto import (
    AdminUserCreate,
    AdminUserPatch,
    BulkCreateBody,
    BulkUpdateBody,
    UserItems,
    UserRead,
)
from app.application.users.listing import USER_LISTING
from app.interfaces.http.deps import requires_admin
from app.interfaces.http.listing import listing_operation
from app.interfaces.http.openapi import AUTHENTICATED, LAST_ADMIN_RULE, problems

BULK_PASSWORDS_HELP = """
At most `BULK_MAX_PASSWORDS` items (a server setting, 10 by default) may carry a `password`: more is refused
up front with 422 naming `items`, before anything is hashed. Their hashes run one at a time, beside other
requests' sign-ins, so the request takes about that many hashes (some seconds). Items without a password
are limited only by the 1,000.
"""

IncludeDeleted = Annotated[bool, Parameter(description="Show a soft-deleted user too")]


class AdminUsersController(Controller):
    path = "/api/v1/users"
    tags = ["administration"]
    guards = [requires_admin]
    security = AUTHENTICATED

    @get(
        operation_id="listUsers",
        responses=problems(401, 403, 422),
        summary="List users: filters, ordering, keyset pagination",
        description=USER_LISTING.help_text(),
        operation_class=listing_operation(USER_LISTING),
    )
    async def list_users(
        self, request: Request[Any, Any, Any], administration: NamedDependency[UserAdministration]
    ) -> Page[UserRead]:
        params = request.query_params
        return await administration.list_users({name: params.getall(name) for name in params})

    @post(
        operation_id="createUser",
        status_code=201,
        responses=problems(400, 401, 403, 409, 413, 422),
        summary="Create a user",
    )
    async def create(
        self, data: JSONBody[AdminUserCreate], administration: NamedDependency[UserAdministration]
    ) -> UserRead:
        return await administration.create(data)

    @get("/{user_id:uuid}", operation_id="getUser", responses=problems(400, 401, 403, 404, 422), summary="One user")
    async def read(
        self,
        user_id: FromPath[UUID],
        administration: NamedDependency[UserAdministration],
        include_deleted: IncludeDeleted = False,
    ) -> UserRead:
        return await administration.get(user_id, include_deleted=include_deleted)

    @patch(
        "/{user_id:uuid}",
        operation_id="updateUser",
        responses=problems(400, 401, 403, 404, 409, 413, 422),
        summary="Change profile, role or activity",
        description=LAST_ADMIN_RULE,
    )
    async def update(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[AdminUserPatch],
        administration: NamedDependency[UserAdministration],
    ) -> UserRead:
        return await administration.update(user_id, data)

    @delete(
        "/{user_id:uuid}",
        operation_id="deleteUser",
        status_code=204,
        responses=problems(400, 401, 403, 404, 409),
        summary="Soft-delete a user",
        description=LAST_ADMIN_RULE,
    )
    async def remove(self, user_id: FromPath[UUID], administration: NamedDependency[UserAdministration]) -> None:
        await administration.delete(user_id)

    @post(
        "/bulk",
        operation_id="bulkCreateUsers",
        status_code=201,
        responses=problems(400, 401, 403, 409, 413, 422),
        summary="Create 1-1000 users, all or nothing",
        description=BULK_PASSWORDS_HELP,
    )
    async def create_many(
        self, data: JSONBody[BulkCreateBody], administration: NamedDependency[UserAdministration]
    ) -> UserItems:
        return UserItems(items=await administration.create_many(data.items))

    @patch(
        "/bulk",
        operation_id="bulkUpdateUsers",
        responses=problems(400, 401, 403, 404, 409, 413, 422),
        summary="Change 1-1000 users, all or nothing",
        description=LAST_ADMIN_RULE,
    )
    async def update_many(
        self, data: JSONBody[BulkUpdateBody], administration: NamedDependency[UserAdministration]
    ) -> UserItems:
        return UserItems(items=await administration.update_many(data.items))
