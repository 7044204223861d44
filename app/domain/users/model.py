"""The user aggregate."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from app.domain.events import Aggregate
from app.domain.users.events import (
    UserDeactivated,
    UserEmailVerified,
    UserPasswordChanged,
    UserProfileUpdated,
    UserRegistered,
    UserRoleChanged,
)
from app.domain.users.values import Address, Email, Role

#: Attributes a user may change about themselves; everything else needs another path.
PROFILE_FIELDS = frozenset({"first_name", "last_name", "phone", "birthday", "photo_url", "address", "meta"})


@dataclass(slots=True, kw_only=True)
class User(Aggregate):
    id: UUID
    email: str
    email_verified: bool = False
    password_hash: str | None
    created_at: datetime
    updated_at: datetime
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    birthday: date | None = None
    photo_url: str | None = None
    address: Address | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    role: Role = Role.USER
    is_active: bool = True
    deleted_at: datetime | None = None

    @classmethod
    def register(
        cls,
        *,
        id: UUID,  # noqa: A002 - mirrors the attribute name
        email: Email,
        password_hash: str | None,
        now: datetime,
        role: Role = Role.USER,
        profile: dict[str, Any] | None = None,
    ) -> User:
        user = cls(id=id, email=email.value, password_hash=password_hash, created_at=now, updated_at=now, role=role)
        if profile:
            user.update_profile(profile, now)
            user.pull_events()  # The profile is part of the registration, not a change to tell apart.
        user.record(UserRegistered(user_id=id, occurred_at=now, email=email.value))
        return user

    @property
    def can_sign_in(self) -> bool:
        """A user created without a password, deactivated or deleted cannot obtain tokens."""
        return self.password_hash is not None and self.is_active and self.deleted_at is None

    @property
    def is_active_admin(self) -> bool:
        """One of the admins the service always keeps at least one of (``app.application.users.admins``)."""
        return self.role is Role.ADMIN and self.is_active and self.deleted_at is None

    def update_profile(self, changes: dict[str, Any], now: datetime) -> list[str]:
        """Apply profile changes and return the names of the attributes that really changed."""
        unknown = set(changes) - PROFILE_FIELDS
        if unknown:
            raise ValueError(f"Not profile fields: {sorted(unknown)}")
        changed = [name for name, value in changes.items() if getattr(self, name) != value]
        for name in changed:
            setattr(self, name, changes[name])
        if changed:
            self.updated_at = now
            self.record(UserProfileUpdated(user_id=self.id, occurred_at=now, changed=tuple(changed)))
        return changed

    def change_password(self, password_hash: str, now: datetime) -> None:
        self.password_hash = password_hash
        self.updated_at = now
        self.record(UserPasswordChanged(user_id=self.id, occurred_at=now))

    def verify_email(self, now: datetime) -> bool:
        """The owner proved the address is theirs; returns whether this changed anything."""
        if self.email_verified:
            return False
        self.email_verified = True
        self.updated_at = now
        self.record(UserEmailVerified(user_id=self.id, occurred_at=now))
        return True

    def upgrade_password_hash(self, password_hash: str) -> None:
        """The same password under stronger hashing parameters: nothing anyone else needs to hear."""
        self.password_hash = password_hash

    def promote_to_admin(self, now: datetime) -> None:
        self.change_role(Role.ADMIN, now)

    def change_role(self, role: Role, now: datetime) -> bool:
        if self.role is role:
            return False
        self.role = role
        self.updated_at = now
        self.record(UserRoleChanged(user_id=self.id, occurred_at=now, role=role.value))
        return True

    def deactivate(self, now: datetime, reason: str = "self") -> None:
        self.set_active(False, now, reason=reason)

    def set_active(self, active: bool, now: datetime, *, reason: str = "admin") -> bool:
        """Returns whether anything changed; deactivating is what ends the user's sessions."""
        if self.is_active is active:
            return False
        self.is_active = active
        self.updated_at = now
        if not active:
            self.record(UserDeactivated(user_id=self.id, occurred_at=now, reason=reason))
        return True

    def soft_delete(self, now: datetime) -> None:
        """Hidden from lookups and lists from now on; the row stays for audit and references.

        To everyone else a deleted user is a deactivated one (reason ``deleted``).
        """
        self.deleted_at = now
        self.updated_at = now
        self.record(UserDeactivated(user_id=self.id, occurred_at=now, reason="deleted"))
