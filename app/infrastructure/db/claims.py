"""Claims that make an action happen once: an inbound message applied, an email sent.

Each claim is one ``INSERT … ON CONFLICT DO NOTHING`` committed with the action's own
changes, so of two concurrent claims exactly one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.infrastructure.db.models import InboxModel, SentEmailModel, UserModel


def dialect_insert(session: AsyncSession) -> Any:
    """The dialect's own INSERT, for ``ON CONFLICT DO NOTHING`` (PostgreSQL and SQLite both have it)."""
    return postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


_CLAIM_MANY = text(
    """
    INSERT INTO inbox (id, type, processed_at)
    SELECT claim.id, claim.type, :now FROM unnest(CAST(:ids AS uuid[]), CAST(:kinds AS text[])) AS claim(id, type)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
    """
).columns(InboxModel.id)


class SqlInbox:
    def __init__(self, session: AsyncSession) -> None:
        self._db = session

    async def claim(self, message_id: UUID, message_type: str, now: datetime) -> bool:
        # INSERT ... ON CONFLICT DO NOTHING: a concurrent claim of the same id waits for the
        # first to commit and then inserts nothing, so exactly one of them applies it.
        statement = (
            dialect_insert(self._db)(InboxModel)
            .values(id=message_id, type=message_type, processed_at=now)
            .on_conflict_do_nothing(index_elements=[InboxModel.id])
            .returning(InboxModel.id)
        )
        return (await self._db.execute(statement)).scalar_one_or_none() is not None

    async def claim_many(self, claims: Sequence[tuple[UUID, str]], now: datetime) -> set[UUID]:
        # One INSERT of many rows with the same ON CONFLICT DO NOTHING: RETURNING lists the new ones.
        # On PostgreSQL the rows travel as two arrays, so the statement has one shape (prepared
        # once) whatever the batch's size; a VALUES list would be compiled again for every size.
        if self._db.get_bind().dialect.name == "postgresql":
            ids, kinds = zip(*claims, strict=True)
            rows = await self._db.execute(_CLAIM_MANY, {"ids": list(ids), "kinds": list(kinds), "now": now})
            return set(rows.scalars())
        statement = (
            dialect_insert(self._db)(InboxModel)
            .values([{"id": message_id, "type": kind, "processed_at": now} for message_id, kind in claims])
            .on_conflict_do_nothing(index_elements=[InboxModel.id])
            .returning(InboxModel.id)
        )
        return set((await self._db.scalars(statement)).all())


class SqlSentEmails:
    def __init__(self, session: AsyncSession) -> None:
        self._db = session

    async def claim(self, user_id: UUID, kind: str, now: datetime) -> bool:
        # As for the inbox: a second claim of the same (user, kind) waits on the first one's
        # uncommitted row, then inserts nothing (it committed) or takes its place (it rolled back).
        statement = (
            dialect_insert(self._db)(SentEmailModel)
            .values(user_id=user_id, kind=kind, sent_at=now)
            .on_conflict_do_nothing(index_elements=[SentEmailModel.user_id, SentEmailModel.kind])
            .returning(SentEmailModel.user_id)
        )
        return (await self._db.execute(statement)).scalar_one_or_none() is not None

    async def owed(
        self, kind: str, *, registered_from: datetime, registered_before: datetime, limit: int
    ) -> list[UUID]:
        # A range of ix_users_created_at_id, each row checked against the claim's primary key.
        claimed = select(SentEmailModel.user_id).where(
            SentEmailModel.user_id == UserModel.id, SentEmailModel.kind == kind
        )
        statement = (
            select(UserModel.id)
            .where(
                UserModel.created_at >= registered_from,
                UserModel.created_at < registered_before,
                UserModel.is_active.is_(True),
                UserModel.deleted_at.is_(None),
                ~claimed.exists(),
            )
            .order_by(UserModel.created_at, UserModel.id)
            .limit(limit)
        )
        return list((await self._db.scalars(statement)).all())
