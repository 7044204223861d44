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
from app.interfaces.http.deps import requires_admin
from app.interfaces.http.openapi import AUTHENTICATED, LAST_ADMIN_RULE, problems

LISTING_HELP = """
Filters are `<field>__<op>=<value>` (a bare `<field>=<value>` means `eq`). Operators: `eq ne gt gte lt lte
in not_in like ilike startswith istartswith isnull`; `in`/`not_in` take comma-separated values; `like`/`ilike`
match a substring literally. Fields: `id email first_name last_name phone role is_active birthday created_at
updated_at address.city address.country` and `meta.<key>`.

`order_by=-created_at,email` (sortable: `email first_name last_name birthday created_at updated_at`; ties are
broken by `id`), `limit` 1-500 (50), `offset` (0), `cursor` (the previous page's `next_cursor`; not with
`offset`), `with_total` (true), `include_deleted` (false). Every bad parameter is named in the 422.
"""

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
        responses=problems(401, 403, 422),
        summary="List users: filters, ordering, keyset pagination",
        description=LISTING_HELP,
    )
    async def list_users(
        self, request: Request[Any, Any, Any], administration: NamedDependency[UserAdministration]
    ) -> Page[UserRead]:
        params = request.query_params
        return await administration.list_users({name: params.getall(name) for name in params})

    @post(status_code=201, responses=problems(400, 401, 403, 409, 413, 422), summary="Create a user")
    async def create(
        self, data: JSONBody[AdminUserCreate], administration: NamedDependency[UserAdministration]
    ) -> UserRead:
        return await administration.create(data)

    @get("/{user_id:uuid}", responses=problems(400, 401, 403, 404, 422), summary="One user")
    async def read(
        self,
        user_id: FromPath[UUID],
        administration: NamedDependency[UserAdministration],
        include_deleted: IncludeDeleted = False,
    ) -> UserRead:
        return await administration.get(user_id, include_deleted=include_deleted)

    @patch(
        "/{user_id:uuid}",
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
        status_code=204,
        responses=problems(400, 401, 403, 404, 409),
        summary="Soft-delete a user",
        description=LAST_ADMIN_RULE,
    )
    async def remove(self, user_id: FromPath[UUID], administration: NamedDependency[UserAdministration]) -> None:
        await administration.delete(user_id)

    @post(
        "/bulk",
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
        responses=problems(400, 401, 403, 404, 409, 413, 422),
        summary="Change 1-1000 users, all or nothing",
        description=LAST_ADMIN_RULE,
    )
    async def update_many(
        self, data: JSONBody[BulkUpdateBody], administration: NamedDependency[UserAdministration]
    ) -> UserItems:
        return UserItems(items=await administration.update_many(data.items))
