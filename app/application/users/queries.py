"""Reads of one's own account."""

from __future__ import annotations

from app.application.auth.principal import Principal
from app.application.users.dto import UserRead


def get_me(principal: Principal) -> UserRead:
    """Authentication already loaded the caller, so reading oneself costs no extra query."""
    return UserRead.from_entity(principal.user)
