"""The authentication cache in Redis: a signed-in request costs no database round trip.

Entries hold a credential and its user (never the password hash), tagged with the user's
*version*: a session under the session id, an API key under the key's hash (never the
key itself). Every committed change to a user or to any of that user's sessions or keys
bumps the version (see ``SqlAlchemyUnitOfWork``), which retires all of the user's entries
at once, on every worker. Reading the version before the database and storing it with
the result closes the race where a change lands between the two.

Redis trouble never fails a request: a lookup that errors is a miss, a store that
errors is skipped. Entries also expire after ``ttl`` seconds, which bounds how long a
lost invalidation (Redis unreachable at the moment of a change) can matter.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any, Generic, cast
from uuid import UUID

import msgspec
import structlog
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.application.auth.ports import CachedPrincipal, Credential
from app.domain.auth.model import ApiKey, Session
from app.domain.users.model import User

log = structlog.get_logger("app.auth_cache")

#: The answer when Redis is absent or failing: nothing cached, and no version to store under.
_MISS: CachedPrincipal[Any] = CachedPrincipal(found=None, version=0)
#: Stands in for the password hash in cached users: they can sign in, nothing can be verified.
_HASH_PLACEHOLDER = "cached:password-hash-withheld"
_ERRORS = (RedisError, OSError, TimeoutError, msgspec.DecodeError, msgspec.ValidationError)

#: Lookups by result; the hit ratio is ``hit / (hit + miss + error)`` (the dashboard's).
LOOKUPS = Counter("app_auth_cache_lookups", "Authentication cache lookups, by result (hit, miss, error)", ["result"])
LOOKUPS_HIT, LOOKUPS_MISSED, LOOKUPS_FAILED = (LOOKUPS.labels(result) for result in ("hit", "miss", "error"))


class _Entry(msgspec.Struct, Generic[Credential], array_like=True):
    version: int
    credential: Credential
    user: User


_encoder = msgspec.msgpack.Encoder()
_sessions = msgspec.msgpack.Decoder(_Entry[Session])
_api_keys = msgspec.msgpack.Decoder(_Entry[ApiKey])


class RedisPrincipalCache:
    def __init__(self, redis: Redis, ttl: int) -> None:
        self._redis = redis
        self._ttl = ttl

    async def lookup(self, session_id: UUID, user_id: UUID) -> CachedPrincipal[Session]:
        return await self._lookup(_session_key(session_id), user_id, _sessions)

    async def store(self, session: Session, user: User, version: int) -> None:
        await self._store(_session_key(session.id), _Entry(version, session, user))

    async def lookup_api_key(self, key_hash: str, user_id: UUID) -> CachedPrincipal[ApiKey]:
        return await self._lookup(_api_key_key(key_hash), user_id, _api_keys)

    async def store_api_key(self, key: ApiKey, user: User, version: int) -> None:
        await self._store(_api_key_key(key.key_hash), _Entry(version, key, user))

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

    async def _lookup(
        self, key: str, user_id: UUID, decoder: msgspec.msgpack.Decoder[_Entry[Credential]]
    ) -> CachedPrincipal[Credential]:
        """One round trip: the entry and the version of the user it must belong to."""
        try:
            values = await self._redis.mget(key, _version_key(user_id))
            raw_entry, raw_version = cast("tuple[bytes | None, bytes | None]", tuple(values))
            version = int(raw_version or 0)
            if raw_entry is None:
                LOOKUPS_MISSED.inc()
                return CachedPrincipal(found=None, version=version)
            entry = decoder.decode(raw_entry)  # bytes: the client does not decode responses
        except _ERRORS as exc:
            log.warning("auth_cache_unavailable", error=type(exc).__name__)
            LOOKUPS_FAILED.inc()
            return _MISS
        if entry.version != version or entry.user.id != user_id:
            LOOKUPS_MISSED.inc()  # retired by a change to its user
            return CachedPrincipal(found=None, version=version)
        LOOKUPS_HIT.inc()
        return CachedPrincipal(found=(entry.credential, entry.user), version=version)

    async def _store(self, key: str, entry: _Entry[Credential]) -> None:
        if entry.user.password_hash:
            entry.user = replace(entry.user, password_hash=_HASH_PLACEHOLDER)
        try:
            encoded = _encoder.encode(entry)
        except (msgspec.EncodeError, OverflowError) as exc:
            # A user whose stored ``meta`` MessagePack cannot carry (an integer beyond
            # 64 bits, written before ``meta`` was bounded) is served from the database.
            log.warning("auth_cache_unencodable", error=type(exc).__name__, user_id=str(entry.user.id))
            return
        try:
            await self._redis.set(key, encoded, ex=self._ttl)
        except _ERRORS as exc:
            log.warning("auth_cache_unavailable", error=type(exc).__name__)


class NoPrincipalCache:
    """Without Redis there is nothing shared to cache in: every lookup asks the database."""

    async def lookup(self, session_id: UUID, user_id: UUID) -> CachedPrincipal[Session]:
        return _MISS

    async def store(self, session: Session, user: User, version: int) -> None:
        return None

    async def lookup_api_key(self, key_hash: str, user_id: UUID) -> CachedPrincipal[ApiKey]:
        return _MISS

    async def store_api_key(self, key: ApiKey, user: User, version: int) -> None:
        return None

    async def invalidate(self, user_ids: Collection[UUID]) -> None:
        return None


def _session_key(session_id: UUID) -> str:
    return f"auth:session:{session_id}"


def _api_key_key(key_hash: str) -> str:
    return f"auth:api-key:{key_hash}"


def _version_key(user_id: UUID) -> str:
    # The version outlives the entries (2 x ttl), so an expired version can never match one.
    return f"auth:version:{user_id}"
