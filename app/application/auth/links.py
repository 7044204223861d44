"""Account links: a fresh single-use token stored as its hash, and the URL that carries it.

Tokens are issued by the job that mails them, inside the transaction that sends: a send
that fails rolls the token back with it, and the token itself never travels through the
job queue or the log of a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode
from uuid import UUID

from app.application.auth.ports import OpaqueTokens
from app.application.ports import Clock, UnitOfWork
from app.domain.auth.model import AccountToken, TokenPurpose

#: Where each link points under ``PUBLIC_URL``: the pages that read ``token`` and confirm it.
LINK_PATHS = {
    TokenPurpose.EMAIL_VERIFICATION: "/verify-email",
    TokenPurpose.PASSWORD_RESET: "/reset-password",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkPolicy:
    """``PUBLIC_URL`` and how long each kind of link lives (``*_TTL_SECONDS``)."""

    public_url: str
    ttls: dict[TokenPurpose, timedelta]


@dataclass(kw_only=True, eq=False)
class AccountLinks:
    secrets: OpaqueTokens
    policy: LinkPolicy
    clock: Clock

    async def issue(self, uow: UnitOfWork, user_id: UUID, purpose: TokenPurpose, request_id: UUID) -> str | None:
        """Store a token for ``request_id`` and return its link; ``None`` when that request has one already."""
        token, token_hash = self.secrets.new()
        now = self.clock()
        stored = AccountToken(
            id=request_id,
            user_id=user_id,
            purpose=purpose,
            token_hash=token_hash,
            created_at=now,
            expires_at=now + self.policy.ttls[purpose],
        )
        if not await uow.account_tokens.claim(stored):
            return None
        return f"{self.policy.public_url.rstrip('/')}{LINK_PATHS[purpose]}?{urlencode({'token': token})}"

    def token_hash(self, token: str) -> str:
        return self.secrets.hash(token)
