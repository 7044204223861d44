"""The service always keeps an active admin: no change may remove the last one.

Demoting, deactivating and deleting take the same path wherever they come from (an admin's
patch, one or in bulk, a deletion, closing one's own account, an inbound ``user.deactivate``):
note who among the loaded users is an active admin, change them, and ask ``ensure_an_admin_remains``
before saving. Without it the last admin could lock everyone out of administration for good.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from uuid import UUID

from app.application.ports import UnitOfWork
from app.domain.errors import Conflict
from app.domain.users.model import User
from app.domain.users.ports import UserRepository

LAST_ADMIN = "The last active admin cannot be demoted, deactivated or deleted"


def active_admins(users: Iterable[User]) -> frozenset[UUID]:
    """Which of these users are active admins now, before they are changed."""
    return frozenset(user.id for user in users if user.is_active_admin)


async def ensure_an_admin_remains(
    repository: UserRepository, admins_before: frozenset[UUID], changed: Sequence[User]
) -> None:
    """``Conflict`` if the changes to ``changed`` (loaded for update) leave no active admin.

    Only a change that removes an admin asks the database, which also makes concurrent
    removals wait for each other (see ``UserRepository.another_active_admin``).
    """
    removes_an_admin = any(user.id in admins_before and not user.is_active_admin for user in changed)
    if not removes_an_admin or any(user.is_active_admin for user in changed):
        return
    if not await repository.another_active_admin([user.id for user in changed]):
        raise Conflict(LAST_ADMIN)


async def end_access(uow: UnitOfWork, user: User, end: Callable[[datetime], None], now: datetime) -> None:
    """Deactivate or delete ``user`` (``end`` is the entity's method that does it), loaded for update.

    ``Conflict`` if it is the last active admin; otherwise it is saved and its sessions end now.
    """
    admins = active_admins([user])
    end(now)
    await ensure_an_admin_remains(uow.users, admins, [user])
    await uow.users.save(user)
    await uow.sessions.revoke_all([user.id], now)
