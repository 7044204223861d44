"""Registration and self-service changes to one's own account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.application.auth.ports import PasswordHasher
from app.application.auth.principal import Principal
from app.application.ports import Clock, IdFactory, UnitOfWorkFactory
from app.application.users.admins import end_access
from app.application.users.dto import UserRead
from app.application.validation import validate_fields
from app.domain.auth.model import TokenPurpose
from app.domain.errors import FieldError, NotFound, ValidationFailed
from app.domain.users.model import User
from app.domain.users.ports import UserRepository
from app.domain.users.values import Email, Password, Role


@dataclass(kw_only=True, eq=False)
class UserCommands:
    uow: UnitOfWorkFactory
    hasher: PasswordHasher
    clock: Clock
    ids: IdFactory

    async def sign_up(self, email: str, password: str, profile: dict[str, Any]) -> UserRead:
        """Register a user; a taken email is reported by the database constraint, not a pre-check,
        so two concurrent sign-ups with one email cannot both succeed."""
        values = validate_fields(email=lambda: Email(email), password=lambda: Password(password))
        password_hash = await self.hasher.hash(values["password"].value)
        user = User.register(
            id=self.ids(), email=values["email"], password_hash=password_hash, now=self.clock(), profile=profile
        )
        async with self.uow() as uow:
            await uow.users.add(user)
            await uow.commit()
        return UserRead.from_entity(user)

    async def update_profile(self, principal: Principal, changes: dict[str, Any]) -> UserRead:
        async with self.uow() as uow:
            user = await _load(uow.users, principal, for_update=True)
            if user.update_profile(changes, self.clock()):
                await uow.users.save(user)
                await uow.commit()
        return UserRead.from_entity(user)

    async def change_password(self, principal: Principal, current_password: str, new_password: str) -> None:
        """Set a new password and sign out every other device; this one stays signed in.

        Outstanding password-reset links are spent: they were for the password now replaced.
        """
        async with self.uow() as uow:
            stored = await _load(uow.users, principal)
        errors: list[FieldError] = []
        if not await self.hasher.verify(stored.password_hash, current_password):
            errors.append(FieldError("current_password", "Current password is incorrect"))
        try:
            new = Password(new_password)
        except ValueError as exc:
            errors.append(FieldError("new_password", str(exc)))
        if errors:
            raise ValidationFailed(errors)
        new_hash = await self.hasher.hash(new.value)
        now = self.clock()
        async with self.uow() as uow:
            user = await _load(uow.users, principal, for_update=True)
            user.change_password(new_hash, now)
            await uow.users.save(user)
            await uow.sessions.revoke_all([user.id], now, keep=principal.session_id)
            await uow.account_tokens.spend_all(user.id, TokenPurpose.PASSWORD_RESET, now)
            await uow.commit()

    async def deactivate(self, principal: Principal) -> None:
        """Close one's own account: it can no longer sign in and every session ends now.

        The last active admin cannot (``Conflict``): another admin must be made first.
        """
        async with self.uow() as uow:
            user = await _load(uow.users, principal, for_update=True)
            await end_access(uow, user, user.deactivate, self.clock())
            await uow.commit()

    async def create_admin(self, email: str, password: str) -> tuple[UserRead, bool]:
        """Create an admin, or promote the existing user with that email (password unchanged).

        Returns the user and whether it was created.
        """
        values = validate_fields(email=lambda: Email(email), password=lambda: Password(password))
        now = self.clock()
        async with self.uow() as uow:
            existing = await uow.users.get_by_email(values["email"].value)
            if existing is not None:
                existing.promote_to_admin(now)
                await uow.users.save(existing)
                await uow.commit()
                return UserRead.from_entity(existing), False
        password_hash = await self.hasher.hash(values["password"].value)
        user = User.register(
            id=self.ids(), email=values["email"], password_hash=password_hash, now=now, role=Role.ADMIN
        )
        async with self.uow() as uow:
            await uow.users.add(user)
            await uow.commit()
        return UserRead.from_entity(user), True


async def _load(users: UserRepository, principal: Principal, *, for_update: bool = False) -> User:
    """The caller's row as it is now (the principal's copy may be a moment old).

    Loaded ``for_update`` when it is about to be saved: the save writes every column, so a
    concurrent change read before it would otherwise be silently undone.
    """
    user = await users.get(principal.user_id, for_update=for_update)
    if user is None:
        raise NotFound(f"User {principal.user_id} does not exist")
    return user
