"""Read-side auth use cases: resolving a bearer token and listing sessions."""

from __future__ import annotations

import hmac
from datetime import timedelta

from app.application.auth.api_keys import API_KEY_MARKER, API_KEY_PREFIX_LENGTH
from app.application.auth.dto import SessionRead
from app.application.auth.principal import Principal
from app.application.ports import AccessTokenCodec, Clock, OpaqueTokens, PrincipalCache, UnitOfWorkFactory
from app.domain.errors import Unauthorized

#: An API key's use is recorded at most this often: a busy key must not cost a write per request.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


class AuthQueries:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        access_tokens: AccessTokenCodec,
        secrets: OpaqueTokens,
        cache: PrincipalCache,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._access_tokens = access_tokens
        self._secrets = secrets
        self._cache = cache
        self._clock = clock

    async def authenticate(self, access_token: str) -> Principal:
        """Verify the JWT locally, then check its session: in the cache, else in one query.

        The session check is what makes logout and revocation immediate for every worker:
        a signature alone would stay valid until it expires.
        """
        claims = self._access_tokens.decode(access_token)
        cached = await self._cache.lookup(claims.session_id, claims.user_id)
        found = cached.found
        if found is None:
            async with self._uow() as uow:
                found = await uow.sessions.get_with_user(claims.session_id)
            if found is not None:
                await self._cache.store(*found, cached.version)
        if found is None:
            raise Unauthorized("Session not found")
        session, user = found
        if session.user_id != claims.user_id or not session.is_active(self._clock()) or not user.can_sign_in:
            raise Unauthorized("Session is no longer valid")
        return Principal(user=user, session_id=session.id)

    async def authenticate_api_key(self, key: str) -> Principal:
        """Find the key by its clear prefix, then compare the full key's hash in constant time."""
        if not key.startswith(API_KEY_MARKER) or len(key) <= API_KEY_PREFIX_LENGTH:
            raise Unauthorized("Invalid API key")
        now = self._clock()
        async with self._uow() as uow:
            found = await uow.api_keys.get_with_user(key[:API_KEY_PREFIX_LENGTH])
            if found is None or not hmac.compare_digest(found[0].key_hash, self._secrets.hash(key)):
                raise Unauthorized("Invalid API key")
            api_key, user = found
            if not api_key.is_active(now) or not user.can_sign_in:
                raise Unauthorized("API key is revoked or expired")
            if api_key.last_used_at is None or api_key.last_used_at <= now - API_KEY_TOUCH_INTERVAL:
                await uow.api_keys.touch(api_key.id, now, unless_since=now - API_KEY_TOUCH_INTERVAL)
                await uow.commit()
        return Principal(user=user, session_id=None)

    async def list_sessions(self, principal: Principal) -> list[SessionRead]:
        async with self._uow() as uow:
            sessions = await uow.sessions.list_active(principal.user_id, self._clock())
        return [
            SessionRead(
                id=s.id,
                created_at=s.created_at,
                last_used_at=s.last_used_at,
                expires_at=s.expires_at,
                user_agent=s.user_agent,
                ip=s.ip,
                current=s.id == principal.session_id,
            )
            for s in sessions
        ]
