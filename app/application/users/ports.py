"""Ports of the users context beyond the repositories of ``app.domain.users.ports``."""

from __future__ import annotations

from typing import Protocol

from app.application.listing import ListQuery, Page
from app.domain.users.model import User


class UserListing(Protocol):
    """The read side of users: one page of a filtered, ordered listing, with its next cursor."""

    async def page(self, query: ListQuery) -> Page[User]: ...
