"""Tables, as advanced-alchemy declarative models.

Kept apart from the domain entities so that the domain stays free of SQLAlchemy; the
repositories translate between the two. Constraint names are fixed here because the
unit of work maps them to domain errors.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.base import DefaultBase, UUIDv7AuditBase, UUIDv7Base
from advanced_alchemy.types import GUID, DateTimeUTC, JsonB
from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, column, false, func
from sqlalchemy.orm import Mapped, mapped_column

from app.domain.auth.model import TokenPurpose
from app.domain.users.values import EMAIL_MAX_LENGTH, Role

UQ_USERS_EMAIL = "uq_users_email"

_ROLES = ", ".join(f"'{role.value}'" for role in Role)
_PURPOSES = ", ".join(f"'{purpose.value}'" for purpose in TokenPurpose)


class UserModel(UUIDv7AuditBase):
    __tablename__ = "users"
    __table_args__ = (
        # Unique on lower(email): the domain stores emails lower-cased already, the index
        # makes case-insensitivity hold for rows written by any other path too.
        Index(UQ_USERS_EMAIL, func.lower(column("email")), unique=True),
        Index("ix_users_created_at_id", "created_at", "id"),
        Index("ix_users_updated_at_id", "updated_at", "id"),
        # Substring search (email__like/ilike) on PostgreSQL: a trigram index turns a scan of
        # every row into a lookup. PostgreSQL only (pg_trgm); SQLite scans, as embedded mode may.
        Index("ix_users_email_trgm", "email", postgresql_using="gin", postgresql_ops={"email": "gin_trgm_ops"}).ddl_if(
            dialect="postgresql"
        ),
        CheckConstraint(f"role IN ({_ROLES})", name="role_known"),
    )

    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    email_verified: Mapped[bool] = mapped_column(default=False, server_default=false())
    password_hash: Mapped[str | None] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    birthday: Mapped[date | None] = mapped_column(Date)
    photo_url: Mapped[str | None] = mapped_column(String(2048))
    address: Mapped[dict[str, Any] | None] = mapped_column(JsonB)
    meta: Mapped[dict[str, Any]] = mapped_column(JsonB, default=dict)
    role: Mapped[str] = mapped_column(String(16), default=Role.USER.value)
    is_active: Mapped[bool] = mapped_column(default=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class SessionModel(UUIDv7Base):
    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_user_id_expires_at", "user_id", "expires_at"),
        # The purge's two ways for a session to be over: expired, revoked.
        Index("ix_sessions_expires_at", "expires_at"),
        Index(
            "ix_sessions_revoked_at",
            "revoked_at",
            postgresql_where=column("revoked_at").isnot(None),
            sqlite_where=column("revoked_at").isnot(None),
        ),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    last_used_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip: Mapped[str | None] = mapped_column(String(64))


class RefreshTokenModel(DefaultBase):
    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[UUID] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    spent_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class ApiKeyModel(UUIDv7Base):
    __tablename__ = "api_keys"

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class InboxModel(DefaultBase):
    """Inbound envelope ids already applied: the second delivery of one is a no-op."""

    __tablename__ = "inbox"

    id: Mapped[UUID] = mapped_column(GUID(length=16), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    processed_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class SentEmailModel(DefaultBase):
    """Emails that go out once per user (``kind`` = ``welcome``, …), claimed by the job that sends them."""

    __tablename__ = "sent_emails"

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class AccountTokenModel(UUIDv7Base):
    """Single-use email links (verification, password reset), by their hash; the id is the request's."""

    __tablename__ = "account_tokens"
    __table_args__ = (
        # The outstanding tokens of a user, which a new password spends.
        Index(
            "ix_account_tokens_user_id_purpose",
            "user_id",
            "purpose",
            postgresql_where=column("spent_at").is_(None),
            sqlite_where=column("spent_at").is_(None),
        ),
        CheckConstraint(f"purpose IN ({_PURPOSES})", name="purpose_known"),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    spent_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
