"""The authentication cache in Redis: a signed-in request costs no database round trip.

Entries hold a session and its user (never the password hash) under the session id,
tagged with the user's *version*. Every committed change to a user or to any of that
user's sessions bumps the version (see ``SqlAlchemyUnitOfWork``), which retires all of
the user's entries at once, on every worker. Reading the version before the database
and storing it with the result closes the race where a change lands between the two.

Redis trouble never fails a request: a lookup that errors is a miss, a store that
errors is skipped. Entries also expire after ``ttl`` seconds, which bounds how long a
lost invalidation (Redis unreachable at the moment of a change) can matter.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import cast
from uuid import UUID

import msgspec
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.application.ports import CachedPrincipal
from app.domain.auth.model import Session
from app.domain.users.model import User

log = structlog.get_logger("app.auth_cache")

_MISS = CachedPrincipal(found=None, version=0)
#: Stands in for the password hash in cached users: they can sign in, nothing can be verified.
_HASH_PLACEHOLDER = "cached:password-hash-withheld"
_ERRORS = (RedisError, OSError, TimeoutError, msgspec.DecodeError, msgspec.ValidationError)


class _Entry(msgspec.Struct, array_like=True):
    version: int
    session: Session
    user: User


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Entry)


class RedisPrincipalCache:
    def __init__(self, redis: Redis, ttl: int) -> None:
        self._redis = redis
        self._ttl = ttl

    async def lookup(self, session_id: UUID, user_id: UUID) -> CachedPrincipal:
        try:
            values = await self._redis.mget(_session_key(session_id), _version_key(user_id))
            raw_entry, raw_version = cast("tuple[bytes | None, bytes | None]", tuple(values))
            version = int(raw_version or 0)
            if raw_entry is None:
                return CachedPrincipal(found=None, version=version)
            entry = _decoder.decode(raw_entry)  # bytes: the client does not decode responses
        except _ERRORS as exc:
            log.warning("auth_cache_unavailable", error=type(exc).__name__)
            return _MISS
        if entry.version != version or entry.user.id != user_id:
            return CachedPrincipal(found=None, version=version)
        return CachedPrincipal(found=(entry.session, entry.user), version=version)

    async def store(self, session: Session, user: User, version: int) -> None:
        withheld = replace(user, password_hash=_HASH_PLACEHOLDER) if user.password_hash else user
        try:
            await self._redis.set(_session_key(session.id), _encoder.encode(_Entry(version, session, withheld)),
                                  ex=self._ttl)  # fmt: skip
        except _ERRORS as exc:
            log.warning("auth_cache_unavailable", error=type(exc).__name__)

    async def invalidate(self, user_ids: Collection[UUID]) -> None:
        """Retire every cached entry of these users (called after a commit that changed them)."""
        if not user_ids:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id in user_ids:
                    pipe.incr(_version_key(user_id))
                    pipe.expire(_version_key(user_id), self._ttl * 2)
                await pipe.execute()
        except _ERRORS as exc:
            log.error("auth_cache_invalidation_failed", error=type(exc).__name__, users=len(user_ids))


class NoPrincipalCache:
    """Without Redis there is nothing shared to cache in: every lookup asks the database."""

    async def lookup(self, session_id: UUID, user_id: UUID) -> CachedPrincipal:
        return _MISS

    async def store(self, session: Session, user: User, version: int) -> None:
        return None

    async def invalidate(self, user_ids: Collection[UUID]) -> None:
        return None


def _session_key(session_id: UUID) -> str:
    return f"auth:session:{session_id}"


def _version_key(user_id: UUID) -> str:
    # The version outlives the entries (2 x ttl), so an expired version can never match one.
    return f"auth:version:{user_id}"
