"""User administration: create, read, change, soft-delete, in bulk too; admins only.

Bulk operations are all or nothing: every item is validated and every conflict found
before anything is written, and the writes share one transaction. A bulk create's
passwords are hashed in the hasher's batch lane, beside sign-ins rather than ahead of
them, and at most ``bulk_max_passwords`` of its items may carry one: that bounds how long
the request takes (about that many hashes), where 1,000 would take minutes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from uuid import UUID

from app.application.auth.ports import PasswordHasher
from app.application.listing import CursorCodec, Page, parse_list_query
from app.application.ports import Clock, IdFactory, UnitOfWork, UnitOfWorkFactory
from app.application.users.admins import active_admins, end_access, ensure_an_admin_remains
from app.application.users.dto import AdminUserCreate, AdminUserPatch, BulkUserUpdate, UserRead
from app.application.users.listing import USER_LISTING
from app.application.users.ports import UserListing
from app.application.validation import validate_fields
from app.domain.errors import Conflict, FieldError, NotFound, ValidationFailed
from app.domain.users.model import User
from app.domain.users.values import Email, Password

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
#: Hashes a list of passwords, in order.
HashAll = Callable[[Sequence[str]], Awaitable[list[str]]]


@dataclass(kw_only=True, eq=False)
class UserAdministration:
    uow: UnitOfWorkFactory
    listing: UserListing
    cursors: CursorCodec
    hasher: PasswordHasher
    clock: Clock
    ids: IdFactory
    bulk_max_passwords: int

    async def list_users(self, params: Mapping[str, Sequence[str]]) -> Page[UserRead]:
        """One page of users as the query parameters ask (see ``app.application.listing``)."""
        return await self.listing.page(parse_list_query(params, USER_LISTING, self.cursors))

    async def get(self, user_id: UUID, *, include_deleted: bool = False) -> UserRead:
        async with self.uow() as uow:
            user = await _existing(uow, user_id, include_deleted=include_deleted)
        return UserRead.from_entity(user)

    async def create(self, data: AdminUserCreate) -> UserRead:
        (user,) = await self._build([data], self._hash_one)
        async with self.uow() as uow:
            await uow.users.add(user)
            await uow.commit()
        return UserRead.from_entity(user)

    async def create_many(self, items: Sequence[AdminUserCreate]) -> list[UserRead]:
        """Insert every user or none; emails already taken (or repeated in the batch) are named in a 409."""
        with_password = sum(item.password is not None for item in items)
        if with_password > self.bulk_max_passwords:
            raise ValidationFailed.single(
                "items",
                f"At most {self.bulk_max_passwords} items of a bulk create may carry a password; {with_password} do",
            )
        users = await self._build(items, self.hasher.hash_many)
        repeated = sorted(email for email, count in Counter(u.email for u in users).items() if count > 1)
        async with self.uow() as uow:
            taken = sorted(await uow.users.taken_emails([u.email for u in users]))
            if repeated or taken:
                raise Conflict(f"Emails already registered or repeated: {', '.join(sorted({*repeated, *taken}))}")
            await uow.users.add_many(users)
            await uow.commit()
        return [UserRead.from_entity(user) for user in users]

    async def update(self, user_id: UUID, patch: AdminUserPatch) -> UserRead:
        changes = patch.changes()
        async with self.uow() as uow:
            user = await _existing(uow, user_id, for_update=True)
            admins = active_admins([user])
            if self._apply(user, changes):
                await ensure_an_admin_remains(uow.users, admins, [user])
                await uow.users.save(user)
                if not user.is_active:
                    await uow.sessions.revoke_all([user.id], self.clock())
                await uow.commit()
        return UserRead.from_entity(user)

    async def update_many(self, items: Sequence[BulkUserUpdate]) -> list[UserRead]:
        """Change every listed user or none; unknown ids are named in a 404."""
        ids = [item.id for item in items]
        repeated = sorted(str(i) for i, count in Counter(ids).items() if count > 1)
        if repeated:
            raise ValidationFailed.single("items", f"Each id may appear once; repeated: {', '.join(repeated)}")
        changes = dict(zip(ids, _each_item(items, BulkUserUpdate.changes), strict=True))
        async with self.uow() as uow:
            users = {user.id: user for user in await uow.users.get_many(ids, for_update=True)}
            missing = [str(i) for i in ids if i not in users]
            if missing:
                raise NotFound(f"Users do not exist: {', '.join(missing)}")
            admins = active_admins(users.values())
            changed = [users[i] for i in ids if self._apply(users[i], changes[i])]
            if changed:
                await ensure_an_admin_remains(uow.users, admins, changed)
                await uow.users.save_many(changed)
                deactivated = [user.id for user in changed if not user.is_active]
                if deactivated:
                    await uow.sessions.revoke_all(deactivated, self.clock())
                await uow.commit()
        return [UserRead.from_entity(users[i]) for i in ids]

    async def delete(self, user_id: UUID) -> None:
        """Soft delete: the row stays, lookups and lists stop showing it, its sessions end."""
        async with self.uow() as uow:
            user = await _existing(uow, user_id, for_update=True)
            await end_access(uow, user, user.soft_delete, self.clock())
            await uow.commit()

    def _apply(self, user: User, changes: dict[str, Any]) -> bool:
        """Apply a patch's changes through the entity's own methods; returns whether anything changed."""
        role = changes.pop("role", None)
        is_active = changes.pop("is_active", None)
        changes.pop("id", None)
        now = self.clock()
        changed = bool(user.update_profile(changes, now))
        if role is not None:
            changed = user.change_role(role, now) or changed
        if is_active is not None:
            changed = user.set_active(is_active, now) or changed
        return changed

    async def _build(self, items: Sequence[AdminUserCreate], hash_all: HashAll) -> list[User]:
        """Validate every item (errors named ``items.N.field`` in a batch), then hash the given passwords
        with ``hash_all``; a batch without passwords costs none."""
        parsed = _each_item(items, _parse_create)
        passwords: list[Password | None] = [values["password"] for values in parsed]
        hashed = iter(await hash_all([password.value for password in passwords if password is not None]))
        hashes = [None if password is None else next(hashed) for password in passwords]
        now = self.clock()
        return [
            User.register(
                id=self.ids(),
                email=values["email"],
                password_hash=password_hash,
                now=now,
                role=item.role,
                profile=values["profile"],
            )
            for item, values, password_hash in zip(items, parsed, hashes, strict=True)
        ]

    async def _hash_one(self, passwords: Sequence[str]) -> list[str]:
        """A single create's password (if any), hashed as interactively as a sign-up's."""
        return [await self.hasher.hash(password) for password in passwords]


def _parse_create(item: AdminUserCreate) -> dict[str, Any]:
    """An item's credentials and profile as domain values, every bad field named at once."""
    return validate_fields(
        email=lambda: Email(item.email),
        password=lambda: None if item.password is None else Password(item.password),
        profile=item.profile,
    )


def _each_item(items: Sequence[ItemT], parse: Callable[[ItemT], ResultT]) -> list[ResultT]:
    """``parse`` every item of a batch; one ``ValidationFailed`` naming every bad field as
    ``items.N.field`` (plain ``field`` for a single item), so nothing is written or hashed
    before the whole batch is known to be valid."""
    parsed: list[ResultT] = []
    failures: list[FieldError] = []
    for index, item in enumerate(items):
        try:
            parsed.append(parse(item))
        except ValidationFailed as exc:
            prefix = f"items.{index}." if len(items) > 1 else ""
            failures.extend(replace(error, field=f"{prefix}{error.field}") for error in exc.errors)
    if failures:
        raise ValidationFailed(failures)
    return parsed


async def _existing(uow: UnitOfWork, user_id: UUID, *, include_deleted: bool = False, for_update: bool = False) -> User:
    """The user or ``NotFound``; ``for_update`` when it will be saved (see ``UserRepository.get``)."""
    user = await uow.users.get(user_id, include_deleted=include_deleted, for_update=for_update)
    if user is None:
        raise NotFound(f"User {user_id} does not exist")
    return user
