"""What the user aggregate needs from persistence, expressed in domain terms."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from app.domain.users.events import UserEvent
from app.domain.users.model import User


class UserRepository(Protocol):
    async def get(self, user_id: UUID, *, include_deleted: bool = False, for_update: bool = False) -> User | None:
        """The user, unless it does not exist or was soft-deleted (and ``include_deleted`` is off).

        ``for_update`` locks the row until the unit of work ends, so that a read-modify-write
        (such as merging into ``meta``) cannot lose a concurrent writer's change.
        """

    async def get_many(self, user_ids: Collection[UUID], *, for_update: bool = False) -> list[User]:
        """The (not soft-deleted) users among ``user_ids``, in one round trip; unknown ids are left out.

        ``for_update`` as for ``get``.
        """

    async def another_active_admin(self, excluding: Collection[UUID]) -> bool:
        """Whether an active admin other than ``excluding`` exists, as committed by now.

        Two units of work that ask cannot overlap: the second waits until the first ends, and
        then sees what it committed, so two admins removing each other cannot both succeed.
        Ask it after loading (and locking) the users being changed, never before: a unit of
        work that waits here must not hold a row another one that got past here needs.
        """

    async def taken_emails(self, emails: Collection[str]) -> set[str]:
        """Which of these (normalized) emails belong to an existing user, deleted or not."""

    async def get_by_email(self, email: str) -> User | None:
        """Look up by normalized (lower-cased) email; soft-deleted users are not returned."""

    async def add(self, user: User) -> None:
        """Stage a new user; a taken email surfaces as ``EmailAlreadyRegistered`` at commit."""

    async def add_many(self, users: Sequence[User]) -> None:
        """Stage many new users as one set-based insert."""

    async def save(self, user: User) -> None:
        """Stage the changes made to a loaded user."""

    async def save_many(self, users: Sequence[User]) -> None:
        """Stage changes to many loaded users without a round trip per user."""

    async def lock(self, user_ids: Collection[UUID]) -> set[UUID]:
        """Lock the (not soft-deleted) users among ``user_ids`` until the unit of work ends; returns their ids.

        Rows are locked in id order, so two units of work locking overlapping sets wait for
        each other instead of deadlocking. The set-based changes below expect their users locked.
        """

    async def merge_meta(self, patches: Mapping[UUID, dict[str, Any]], now: datetime) -> dict[UUID, dict[str, Any]]:
        """Merge each patch into its user's ``meta`` (top-level keys, the patch's win) in one statement.

        Returns the merged ``meta`` of each user it changed; a patch that changes nothing
        leaves its user as it was. The caller checks the results' bounds and rolls back if
        one breaks them. Events are the caller's to ``record``.
        """

    async def deactivate_many(self, user_ids: Collection[UUID], now: datetime) -> dict[UUID, bool]:
        """Deactivate the active users among ``user_ids`` in one statement.

        Returns, for each user it changed, whether it was an admin (an active admin before),
        so that the caller can keep the last one. Events are the caller's to ``record``.
        """

    def record(self, events: Iterable[UserEvent]) -> None:
        """Write the events of set-based changes with the transaction, and retire their users' cached authentication.

        Changes made through an entity are recorded by ``save``; these were made in SQL.
        """
