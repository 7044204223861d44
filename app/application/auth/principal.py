"""Who is calling: the result of authentication, handed to every use case that needs it."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from app.domain.users.model import User


@dataclass(frozen=True, slots=True)
class Principal:
    user: User
    session_id: UUID

    @property
    def user_id(self) -> UUID:
        return self.user.id
