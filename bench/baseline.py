"""The practical ceiling for ``GET /api/v1/users/me``: the least code that does its essential work.

Verify the bearer JWT with pyjwt, fetch the user by primary key with one asyncpg query,
encode it with msgspec, in a bare Litestar handler: no middleware, no dependency
injection, no ORM, no cache, no session check, no logging. The runner serves it with the
same uvicorn and worker count as the service (``uvicorn --factory bench.baseline:create_app``),
so the ratio between the two is what the service's layers cost. The essential work itself
(:class:`Essentials`) is shared with the bare gRPC server (``bench.grpc_baseline``).

Reads ``DATABASE_URL``, ``SECRET_KEY`` and ``DATABASE_POOL_SIZE`` from the environment.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
import jwt
import msgspec
from litestar import Litestar, Request, Response, get
from litestar.exceptions import NotAuthorizedException

_QUERY = """
SELECT id, email, first_name, last_name, phone, birthday, photo_url, address, meta, role, is_active,
       created_at, updated_at
FROM users WHERE id = $1
"""


class UserOut(msgspec.Struct):
    id: UUID
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    birthday: date | None
    photo_url: str | None
    address: msgspec.Raw  # jsonb arrives as JSON text: passed through, never parsed
    meta: msgspec.Raw
    role: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Essentials:
    """What any interface must do to answer "who am I": verify the token, read the user's row."""

    key: str
    pool: asyncpg.Pool

    async def user(self, authorization: str) -> asyncpg.Record | None:
        """The caller's row for an ``Authorization`` value; None when the token or the user is not valid."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            claims = jwt.decode(token, self.key, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            return None
        row: asyncpg.Record | None = await self.pool.fetchrow(_QUERY, UUID(claims["sub"]))
        return row


@asynccontextmanager
async def essentials() -> AsyncIterator[Essentials]:
    """The key and a connection pool sized as the service's, from the service's own settings."""
    dsn = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
    pool_size = int(os.environ.get("DATABASE_POOL_SIZE", "10"))
    pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size)
    try:
        yield Essentials(os.environ["SECRET_KEY"], pool)
    finally:
        await pool.close()


def create_app() -> Litestar:
    ready: list[Essentials] = []

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with essentials() as work:
            ready.append(work)
            yield

    @get("/api/v1/users/me")
    async def me(request: Request[Any, Any, Any]) -> Response[bytes]:
        row = await ready[0].user(request.headers.get("authorization", ""))
        if row is None:
            raise NotAuthorizedException()
        fields = dict(row)
        user = UserOut(
            **{**fields, "address": msgspec.Raw(fields["address"] or "null"), "meta": msgspec.Raw(fields["meta"])}
        )
        return Response(msgspec.json.encode(user), media_type="application/json")

    return Litestar([me], lifespan=[lifespan], openapi_config=None)
