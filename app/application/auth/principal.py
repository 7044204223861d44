"""Who is calling: the result of authentication, handed to every use case that needs it."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from app.domain.users.model import User


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user; ``session_id`` is None when the caller used an API key."""

    user: User
    session_id: UUID | None

    @property
    def user_id(self) -> UUID:
        return self.user.id
