"""Read-side auth use cases: resolving a bearer token or an API key, and listing sessions."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from app.application.auth.api_keys import API_KEY_MARKER, API_KEY_PREFIX_LENGTH
from app.application.auth.dto import SessionRead
from app.application.auth.ports import AccessTokenCodec, OpaqueTokens, PrincipalCache
from app.application.auth.principal import Principal
from app.application.ports import Clock, UnitOfWorkFactory
from app.domain.auth.model import ApiKey
from app.domain.errors import Unauthorized
from app.domain.users.model import User

#: An API key's use is recorded at most this often: a busy key must not cost a write per request.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)
#: Owners of the API keys a process has verified, at most this many (a key's hash and a user id each).
KNOWN_KEY_OWNERS = 4096


@dataclass(kw_only=True, eq=False)
class AuthQueries:
    uow: UnitOfWorkFactory
    access_tokens: AccessTokenCodec
    secrets: OpaqueTokens
    cache: PrincipalCache
    clock: Clock
    #: Key hash -> owner, for keys verified in the database; a key's owner never changes.
    _key_owners: dict[str, UUID] = field(default_factory=dict, init=False, repr=False)

    async def authenticate(self, access_token: str) -> Principal:
        """Verify the JWT locally, then check its session: in the cache, else in one query.

        The session check is what makes logout and revocation immediate for every worker:
        a signature alone would stay valid until it expires.
        """
        claims = self.access_tokens.decode(access_token)
        cached = await self.cache.lookup(claims.session_id, claims.user_id)
        found = cached.found
        if found is None:
            async with self.uow() as uow:
                found = await uow.sessions.get_with_user(claims.session_id)
            if found is not None:
                await self.cache.store(*found, cached.version)
        if found is None:
            raise Unauthorized("Session not found")
        session, user = found
        if session.user_id != claims.user_id or not session.is_active(self.clock()) or not user.can_sign_in:
            raise Unauthorized("Session is no longer valid")
        return Principal(user=user, session_id=session.id)

    async def authenticate_api_key(self, key: str) -> Principal:
        """Find the key in the cache by its hash, else by its clear prefix in the database.

        A cache entry is checked against its owner's version like a session's, so revoking
        the key and any change to its owner retire it at once. Asking for that version
        takes the owner's id, which the key does not carry: it comes from ``_key_owners``,
        filled when the database verified the key. So a process's first request with a key
        is answered from the database and caches nothing (the version must be read before
        the database, and whose to read is not known yet); from the second on, the cache
        answers in one round trip.
        """
        if not key.startswith(API_KEY_MARKER) or len(key) <= API_KEY_PREFIX_LENGTH:
            raise Unauthorized("Invalid API key")
        key_hash = self.secrets.hash(key)
        owner = self._key_owners.get(key_hash)
        cached = await self.cache.lookup_api_key(key_hash, owner) if owner is not None else None
        found = cached.found if cached is not None else None
        newer_than_cached = found is None
        if found is None:
            found = await self._api_key_from_database(key, key_hash)
        api_key, user = found
        now = self.clock()
        usable = api_key.is_active(now) and user.can_sign_in
        if usable and (api_key.last_used_at is None or api_key.last_used_at <= now - API_KEY_TOUCH_INTERVAL):
            await self._record_use(api_key, now)
            newer_than_cached = True
        if newer_than_cached and cached is not None:
            await self.cache.store_api_key(api_key, user, cached.version)
        if not usable:
            raise Unauthorized("API key is revoked or expired")
        return Principal(user=user, session_id=None)

    async def _api_key_from_database(self, key: str, key_hash: str) -> tuple[ApiKey, User]:
        """The key and its owner, found by the clear prefix, the whole key's hash compared in constant time."""
        async with self.uow() as uow:
            found = await uow.api_keys.get_with_user(key[:API_KEY_PREFIX_LENGTH])
        if found is None or not hmac.compare_digest(found[0].key_hash, key_hash):
            raise Unauthorized("Invalid API key")
        owners = self._key_owners
        if key_hash not in owners and len(owners) >= KNOWN_KEY_OWNERS:
            del owners[next(iter(owners))]  # the longest known: it costs one more database lookup
        owners[key_hash] = found[0].user_id
        return found

    async def _record_use(self, api_key: ApiKey, now: datetime) -> None:
        """Record the use in the database, unless another request did within the interval, and in ``api_key``."""
        async with self.uow() as uow:
            await uow.api_keys.touch(api_key.id, now, unless_since=now - API_KEY_TOUCH_INTERVAL)
            await uow.commit()
        api_key.last_used_at = now

    async def list_sessions(self, principal: Principal) -> list[SessionRead]:
        async with self.uow() as uow:
            sessions = await uow.sessions.list_active(principal.user_id, self.clock())
        return [SessionRead.from_entity(s, current=s.id == principal.session_id) for s in sessions]
