"""Sign-in, token refresh with rotation and reuse detection, and session revocation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from app.application.auth.dto import ClientInfo, TokenPair
from app.application.auth.policy import TokenPolicy
from app.application.auth.ports import AccessClaims, AccessTokenCodec, OpaqueTokens, PasswordHasher
from app.application.auth.principal import Principal
from app.application.ports import Clock, IdFactory, UnitOfWork, UnitOfWorkFactory
from app.domain.auth.model import RefreshToken, Session
from app.domain.errors import EmailNotVerified, Forbidden, NotFound, Unauthorized
from app.domain.users.model import User

_BAD_CREDENTIALS = "Invalid email or password"


@dataclass(kw_only=True, eq=False)
class AuthCommands:
    uow: UnitOfWorkFactory
    hasher: PasswordHasher
    access_tokens: AccessTokenCodec
    refresh_tokens: OpaqueTokens
    policy: TokenPolicy
    clock: Clock
    ids: IdFactory

    async def issue_tokens(self, email: str, password: str, client: ClientInfo) -> TokenPair:
        """Sign in with email and password, starting a new session.

        Unknown email, wrong password and a disabled account take the same path (one hash
        verification) and raise the same error, so neither the answer nor its timing tells
        which emails exist. With ``require_verified_email``, the right password for an
        unverified address is refused as such (only who knows the password learns it). The
        hash is checked outside any transaction so that a burst of sign-ins does not hold
        database connections for the length of a hash.
        """
        async with self.uow() as uow:
            user = await uow.users.get_by_email(email.strip().lower())
        verified = await self.hasher.verify(user.password_hash if user else None, password)
        if user is None or not verified or not user.can_sign_in:
            raise Unauthorized(_BAD_CREDENTIALS)
        if self.policy.require_verified_email and not user.email_verified:
            raise EmailNotVerified()
        rehashed = await self.hasher.hash(password) if self.hasher.needs_rehash(user.password_hash or "") else None

        now = self.clock()
        session = Session.start(
            id=self.ids(),
            user_id=user.id,
            now=now,
            lifetime=self.policy.refresh_ttl,
            user_agent=client.user_agent,
            ip=client.ip,
        )
        async with self.uow() as uow:
            if rehashed is not None:
                await self._upgrade_hash(uow, user, rehashed)
            await uow.sessions.add(session)
            pair = await self._start_refresh_chain(uow, session, now)
            await uow.commit()
        return pair

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Exchange a refresh token for a new pair; the presented token is spent.

        A token that was already spent can only be presented again by someone who copied
        it, so the whole session is revoked: the thief and the victim both have to sign in
        again, and only the victim can.
        """
        now = self.clock()
        async with self.uow() as uow:
            token = await uow.refresh_tokens.spend(self.refresh_tokens.hash(refresh_token), now)
            if token is None:
                raise Unauthorized("Unknown refresh token")
            found = await uow.sessions.get_with_user(token.session_id)
            if found is None:
                raise Unauthorized("Session not found")
            session, user = found
            if token.spent_at is not None:
                session.revoke(now)
                await uow.sessions.save(session)
                await uow.commit()
                raise Unauthorized("Refresh token reuse detected; the session is revoked")
            if not session.is_active(now) or not user.can_sign_in:
                raise Unauthorized("Session is no longer valid")
            session.extend(now, self.policy.refresh_ttl)
            await uow.sessions.save(session)
            pair = await self._start_refresh_chain(uow, session, now)
            await uow.commit()
        return pair

    async def revoke_session(self, principal: Principal, session_id: UUID) -> None:
        """Revoke one of the caller's own sessions; anyone else's reads as not found."""
        async with self.uow() as uow:
            session = await uow.sessions.get(session_id)
            if session is None or session.user_id != principal.user_id:
                raise NotFound(f"Session {session_id} does not exist")
            session.revoke(self.clock())
            await uow.sessions.save(session)
            await uow.commit()

    async def logout(self, principal: Principal) -> None:
        if principal.session_id is None:
            raise Forbidden("An API key has no session to log out of; delete the key instead")
        await self.revoke_session(principal, principal.session_id)

    @staticmethod
    async def _upgrade_hash(uow: UnitOfWork, seen: User, rehashed: str) -> None:
        """Store the rehashed password on the row as it is *now*, not on the copy read before hashing.

        Saving the earlier copy would silently undo whatever changed while the hash ran (a
        deactivation, a profile edit); a password changed meanwhile is left alone.
        """
        current = await uow.users.get(seen.id, for_update=True)
        if current is not None and current.password_hash == seen.password_hash:
            current.upgrade_password_hash(rehashed)
            await uow.users.save(current)

    async def _start_refresh_chain(self, uow: UnitOfWork, session: Session, now: datetime) -> TokenPair:
        token, token_hash = self.refresh_tokens.new()
        await uow.refresh_tokens.add(RefreshToken(token_hash=token_hash, session_id=session.id))
        return TokenPair(
            access_token=self.access_tokens.issue(AccessClaims(user_id=session.user_id, session_id=session.id), now),
            refresh_token=token,
            token_type="bearer",  # noqa: S106 - the OAuth2 token type, not a secret
            expires_in=int(self.policy.access_ttl.total_seconds()),
            refresh_expires_in=int((session.expires_at - now).total_seconds()),
            session_id=session.id,
        )
