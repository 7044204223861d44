"""Ports of the users context beyond the repositories of ``app.domain.users.ports``."""

from __future__ import annotations

from typing import Protocol

from app.application.listing import ListQuery, Page
from app.application.users.dto import UserRead


class UserListing(Protocol):
    """The read side of users: one page of a filtered, ordered listing, with its next cursor.

    The page holds users as they are read (:class:`UserRead`), not domain users: a listing
    changes nothing, and the response is what the rows convert to directly.
    """

    async def page(self, query: ListQuery) -> Page[UserRead]: ...
