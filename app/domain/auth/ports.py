"""What sessions and refresh tokens need from persistence."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol
from uuid import UUID

from app.domain.auth.model import AccountToken, ApiKey, RefreshToken, Session, TokenPurpose
from app.domain.users.model import User


class SessionRepository(Protocol):
    async def get(self, session_id: UUID) -> Session | None: ...

    async def get_with_user(self, session_id: UUID) -> tuple[Session, User] | None:
        """The session and its (not soft-deleted) owner in one round trip: the authenticated hot path."""

    async def add(self, session: Session) -> None: ...

    async def save(self, session: Session) -> None: ...

    async def list_active(self, user_id: UUID, now: datetime) -> list[Session]: ...

    async def revoke_all(self, user_ids: Collection[UUID], now: datetime, *, keep: UUID | None = None) -> None:
        """Revoke every active session of these users, except ``keep``, in one statement."""

    async def delete_ended(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` sessions that ended before ``before``, with their refresh tokens.

        A session ended when it expired (``expires_at``) or was revoked (``revoked_at``);
        returns how many sessions were deleted.
        """


class RefreshTokenRepository(Protocol):
    async def add(self, token: RefreshToken) -> None: ...

    async def spend(self, token_hash: str, now: datetime) -> RefreshToken | None:
        """Atomically mark an unspent token spent.

        Returns the token as it was before the call (``spent_at`` set if it had already
        been spent), or ``None`` if no such token exists. Atomicity matters: two concurrent
        refreshes with the same token must not both succeed.
        """


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...

    async def get(self, key_id: UUID) -> ApiKey | None: ...

    async def save(self, key: ApiKey) -> None: ...

    async def list_unrevoked(self, user_id: UUID) -> list[ApiKey]: ...

    async def get_with_user(self, prefix: str) -> tuple[ApiKey, User] | None:
        """The key with this prefix and its (not soft-deleted) owner, in one round trip."""

    async def touch(self, key_id: UUID, now: datetime, *, unless_since: datetime) -> None:
        """Record a use, unless one was already recorded at or after ``unless_since``.

        Conditional, so that a busy key costs one write a minute, not one a request.
        """


class AccountTokenRepository(Protocol):
    async def claim(self, token: AccountToken) -> bool:
        """Store a new token unless one with its id exists; False when it does (the job ran before).

        Committed with the email's send, as ``SentEmails.claim``: of two runs of one job
        exactly one stores its token and sends it.
        """

    async def spend(self, token_hash: str, purpose: TokenPurpose, now: datetime) -> UUID | None:
        """Spend an unspent, unexpired token of this purpose in one conditional statement; its user's id.

        ``None`` for an unknown, spent or expired token. Of two concurrent spends of one
        token exactly one gets the id.
        """

    async def spend_all(self, user_id: UUID, purpose: TokenPurpose, now: datetime) -> None:
        """Spend every outstanding token of this purpose of the user (a reset link dies with the password)."""
