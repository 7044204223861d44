"""What happened to a user, as other services hear of it (``type`` is the routing key).

Events are recorded by the ``User`` entity's own methods, so no code path can change a
user without saying so; the unit of work writes them to the outbox in the same
transaction as the change. ``USER_EVENTS`` is every one of them, for the catalog of
what the service publishes (the composition root registers it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from uuid import UUID

from app.domain.events import DomainEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class UserEvent(DomainEvent):
    aggregate: ClassVar[str] = "user"
    user_id: UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRegistered(UserEvent):
    type: ClassVar[str] = "user.registered"
    email: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserProfileUpdated(UserEvent):
    type: ClassVar[str] = "user.profile_updated"
    changed: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UserDeactivated(UserEvent):
    type: ClassVar[str] = "user.deactivated"
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserPasswordChanged(UserEvent):
    type: ClassVar[str] = "user.password_changed"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRoleChanged(UserEvent):
    type: ClassVar[str] = "user.role_changed"
    role: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserEmailVerified(UserEvent):
    type: ClassVar[str] = "user.email_verified"


USER_EVENTS: tuple[type[UserEvent], ...] = (
    UserRegistered,
    UserProfileUpdated,
    UserDeactivated,
    UserPasswordChanged,
    UserRoleChanged,
    UserEmailVerified,
)
