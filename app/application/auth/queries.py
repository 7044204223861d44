"""Read-side auth use cases: resolving a bearer token and listing sessions."""

from __future__ import annotations

from app.application.auth.dto import SessionRead
from app.application.auth.principal import Principal
from app.application.ports import AccessTokenCodec, Clock, UnitOfWorkFactory
from app.domain.errors import Unauthorized


class AuthQueries:
    def __init__(self, *, uow: UnitOfWorkFactory, access_tokens: AccessTokenCodec, clock: Clock) -> None:
        self._uow = uow
        self._access_tokens = access_tokens
        self._clock = clock

    async def authenticate(self, access_token: str) -> Principal:
        """Verify the JWT locally, then check its session in one round trip.

        The session check is what makes logout and revocation immediate for every worker:
        a signature alone would stay valid until it expires.
        """
        claims = self._access_tokens.decode(access_token)
        async with self._uow() as uow:
            found = await uow.sessions.get_with_user(claims.session_id)
        if found is None:
            raise Unauthorized("Session not found")
        session, user = found
        if session.user_id != claims.user_id or not session.is_active(self._clock()) or not user.can_sign_in:
            raise Unauthorized("Session is no longer valid")
        return Principal(user=user, session_id=session.id)

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
