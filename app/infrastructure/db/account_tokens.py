"""Single-use account tokens: claimed once per request, spent once by one conditional statement."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.auth.model import AccountToken, TokenPurpose
from app.infrastructure.db.claims import dialect_insert
from app.infrastructure.db.mapping import ACCOUNT_TOKEN_COLUMNS, to_row
from app.infrastructure.db.models import AccountTokenModel


class SqlAccountTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._db = session

    async def claim(self, token: AccountToken) -> bool:
        # As the sent-email claims: a second run of the job waits on the first one's row, then
        # inserts nothing (it committed) or takes its place (it rolled back).
        statement = (
            dialect_insert(self._db)(AccountTokenModel)
            .values(**to_row(token, ACCOUNT_TOKEN_COLUMNS))
            .on_conflict_do_nothing(index_elements=[AccountTokenModel.id])
            .returning(AccountTokenModel.id)
        )
        return (await self._db.execute(statement)).scalar_one_or_none() is not None

    async def spend(self, token_hash: str, purpose: TokenPurpose, now: datetime) -> UUID | None:
        # The one atomic step: of two concurrent confirmations, exactly one matches "spent_at IS NULL".
        spent = await self._db.execute(
            update(AccountTokenModel)
            .where(
                AccountTokenModel.token_hash == token_hash,
                AccountTokenModel.purpose == purpose.value,
                AccountTokenModel.spent_at.is_(None),
                AccountTokenModel.expires_at > now,
            )
            .values(spent_at=now)
            .returning(AccountTokenModel.user_id)
        )
        return spent.scalar_one_or_none()

    async def spend_all(self, user_id: UUID, purpose: TokenPurpose, now: datetime) -> None:
        await self._db.execute(
            update(AccountTokenModel)
            .where(
                AccountTokenModel.user_id == user_id,
                AccountTokenModel.purpose == purpose.value,
                AccountTokenModel.spent_at.is_(None),
            )
            .values(spent_at=now)
        )
