"""What the user aggregate needs from persistence, expressed in domain terms."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from app.domain.users.model import User


class UserRepository(Protocol):
    async def get(self, user_id: UUID) -> User | None:
        """The user, unless it does not exist or was soft-deleted."""

    async def get_by_email(self, email: str) -> User | None:
        """Look up by normalized (lower-cased) email; soft-deleted users are not returned."""

    async def add(self, user: User) -> None:
        """Stage a new user; a taken email surfaces as ``EmailAlreadyRegistered`` at commit."""

    async def save(self, user: User) -> None:
        """Stage the changes made to a loaded user."""
