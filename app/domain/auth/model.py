"""Sign-in sessions: what a login creates and what every token is checked against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID


@dataclass(slots=True, kw_only=True)
class Session:
    """One login on one device.

    Access tokens name their session, so revoking the session revokes them at once; the
    refresh token is rotated on every use and only its hash is stored (see ``RefreshToken``).
    """

    id: UUID
    user_id: UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None = None
    ip: str | None = None
    revoked_at: datetime | None = None

    @classmethod
    def start(
        cls,
        *,
        id: UUID,  # noqa: A002 - mirrors the attribute name
        user_id: UUID,
        now: datetime,
        lifetime: timedelta,
        user_agent: str | None,
        ip: str | None,
    ) -> Session:
        return cls(
            id=id,
            user_id=user_id,
            created_at=now,
            last_used_at=now,
            expires_at=now + lifetime,
            user_agent=user_agent,
            ip=ip,
        )

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def extend(self, now: datetime, lifetime: timedelta) -> None:
        """Sliding expiry: a session stays alive as long as it keeps being refreshed."""
        self.last_used_at = now
        self.expires_at = now + lifetime

    def revoke(self, now: datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = now


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """A refresh token as stored: its hash, the session it extends and whether it was spent.

    Spent tokens are kept until their session is purged so that presenting one again is
    recognised as theft (reuse) rather than as an unknown token.
    """

    token_hash: str
    session_id: UUID
    spent_at: datetime | None = None


@dataclass(slots=True, kw_only=True)
class ApiKey:
    """A long-lived credential that acts as its owner, for machines rather than people.

    Only a hash of the key is stored; ``prefix`` (the key's first characters) is kept in
    clear to find the row and to let owners tell their keys apart.
    """

    id: UUID
    user_id: UUID
    name: str
    prefix: str
    key_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def revoke(self, now: datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = now


class TokenPurpose(StrEnum):
    """What an account token proves when it is spent; a token of one purpose never serves another."""

    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a name, not a secret


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountToken:
    """A single-use secret sent by email (a verification or password-reset link), stored as its hash.

    ``id`` is the request that asked for it, so the job that issues and mails it does so once
    however often it runs (the second insert of one id is refused).
    """

    id: UUID
    user_id: UUID
    purpose: TokenPurpose
    token_hash: str
    created_at: datetime
    expires_at: datetime
    spent_at: datetime | None = None
