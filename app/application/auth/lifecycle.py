"""The account lifecycle by email: prove an address is yours, get back in after forgetting the password.

Requests answer at once and leave the mailing to jobs (``AccountEmailJobs``); each job
issues its link's token and sends in one transaction, keyed by the request, so an email
goes out once however often its job runs. A password-reset request does nothing else,
whoever asked: unknown, deactivated and real accounts take the same path and get the same
answer in the same time, and only the job finds out which it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from app.application.auth.links import AccountLinks
from app.application.auth.ports import AccountEmailJobs, PasswordHasher
from app.application.auth.principal import Principal
from app.application.notifications import EmailSender, password_reset_message, verification_message
from app.application.ports import Clock, IdFactory, UnitOfWork, UnitOfWorkFactory
from app.application.users.dto import UserRead
from app.domain.auth.model import TokenPurpose
from app.domain.errors import Conflict, NotFound, ValidationFailed
from app.domain.users.model import User
from app.domain.users.values import Password

_MESSAGES = {
    TokenPurpose.EMAIL_VERIFICATION: verification_message,
    TokenPurpose.PASSWORD_RESET: password_reset_message,
}
_BAD_TOKEN = "The link is invalid, used or expired; ask for a new one"  # noqa: S105 - a name, not a secret


@dataclass(kw_only=True, eq=False)
class AccountLifecycle:
    uow: UnitOfWorkFactory
    hasher: PasswordHasher
    links: AccountLinks
    jobs: AccountEmailJobs
    sender: EmailSender
    clock: Clock
    ids: IdFactory

    async def request_email_verification(self, principal: Principal) -> None:
        """Mail the caller a fresh verification link; earlier ones stay valid until they expire."""
        async with self.uow() as uow:
            user = await uow.users.get(principal.user_id)
        if user is None:
            raise NotFound(f"User {principal.user_id} does not exist")
        if user.email_verified:
            raise Conflict("The email address is already verified")
        await self.jobs.send_email_verification(user.id, self.ids())

    async def confirm_email_verification(self, token: str) -> UserRead:
        now = self.clock()
        async with self.uow() as uow:
            user = await self._spend(uow, token, TokenPurpose.EMAIL_VERIFICATION)
            if user.verify_email(now):
                await uow.users.save(user)
            await uow.commit()
        return UserRead.from_entity(user)

    async def request_password_reset(self, email: str) -> None:
        """Start the reset job for whatever address was given (see the module): nothing is looked up here."""
        await self.jobs.send_password_reset(email.strip().lower(), self.ids())

    async def confirm_password_reset(self, token: str, new_password: str) -> None:
        """Set the password, spend every outstanding reset link and end every session of the user.

        The hash is computed before the transaction, as for sign-in, so no connection is held
        for its length; the token is spent with the change, so a failure leaves it usable.
        """
        try:
            password = Password(new_password)
        except ValueError as exc:
            raise ValidationFailed.single("new_password", str(exc)) from exc
        new_hash = await self.hasher.hash(password.value)
        now = self.clock()
        async with self.uow() as uow:
            user = await self._spend(uow, token, TokenPurpose.PASSWORD_RESET)
            user.change_password(new_hash, now)
            await uow.users.save(user)
            await uow.account_tokens.spend_all(user.id, TokenPurpose.PASSWORD_RESET, now)
            await uow.sessions.revoke_all([user.id], now)
            await uow.commit()

    async def send_email_verification(self, user_id: UUID, request_id: UUID) -> bool:
        """The job of ``request_email_verification``: True when this run sent the email."""
        async with self.uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or not user.is_active or user.email_verified:
                return False
            return await self._send(uow, user, TokenPurpose.EMAIL_VERIFICATION, request_id)

    async def send_password_reset(self, email: str, request_id: UUID) -> bool:
        """The job of ``request_password_reset``: only a real, active account gets the email."""
        async with self.uow() as uow:
            user = await uow.users.get_by_email(email)
            if user is None or not user.is_active:
                return False
            return await self._send(uow, user, TokenPurpose.PASSWORD_RESET, request_id)

    async def _send(self, uow: UnitOfWork, user: User, purpose: TokenPurpose, request_id: UUID) -> bool:
        link = await self.links.issue(uow, user.id, purpose, request_id)
        if link is None:
            return False  # This request's email went out on an earlier run.
        await self.sender.send(_MESSAGES[purpose](user, link, f"{purpose.value}.{request_id}"))
        await uow.commit()
        return True

    async def _spend(self, uow: UnitOfWork, token: str, purpose: TokenPurpose) -> User:
        """The (locked) user whose token this was, the token now spent; else ``ValidationFailed`` on ``token``."""
        user_id = await uow.account_tokens.spend(self.links.token_hash(token), purpose, self.clock())
        user = await uow.users.get(user_id, for_update=True) if user_id is not None else None
        if user is None or not user.is_active:
            raise ValidationFailed.single("token", _BAD_TOKEN)
        return user
