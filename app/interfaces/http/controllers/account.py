"""``/api/v1/auth``: email verification and password reset, under the auth rate limit.

They share the sign-in routes' budget per client: a token guesser or an address prober
cannot multiply attempts by switching routes.
"""

from __future__ import annotations

from litestar import Controller, MediaType, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from app.application.auth.dto import EmailVerificationConfirmBody, PasswordResetBody, PasswordResetConfirmBody
from app.application.auth.lifecycle import AccountLifecycle
from app.application.auth.principal import Principal
from app.application.users.dto import UserRead
from app.interfaces.http.deps import auth_rate_limit
from app.interfaces.http.openapi import AUTHENTICATED, problems

#: A 202 says "accepted" and nothing else (an empty body, where a ``None`` in JSON would read ``null``).
_ACCEPTED = MediaType.TEXT


class AccountLifecycleController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]
    guards = [auth_rate_limit]

    @post(
        "/email-verification",
        operation_id="requestEmailVerification",
        status_code=202,
        media_type=_ACCEPTED,
        security=AUTHENTICATED,
        responses=problems(401, 409, 429),
        summary="Email the caller a fresh verification link",
        description="Earlier unspent links stay valid until they expire. 409 when the address is verified already.",
    )
    async def request_email_verification(
        self, principal: NamedDependency[Principal], account_lifecycle: NamedDependency[AccountLifecycle]
    ) -> None:
        await account_lifecycle.request_email_verification(principal)

    @post(
        "/email-verification/confirm",
        operation_id="confirmEmailVerification",
        status_code=200,
        responses=problems(400, 413, 422, 429),
        summary="Confirm an email address with the token from its link",
        description="An unknown, spent or expired token → 422 naming `token`.",
    )
    async def confirm_email_verification(
        self, data: JSONBody[EmailVerificationConfirmBody], account_lifecycle: NamedDependency[AccountLifecycle]
    ) -> UserRead:
        return await account_lifecycle.confirm_email_verification(data.token)

    @post(
        "/password-reset",
        operation_id="requestPasswordReset",
        status_code=202,
        media_type=_ACCEPTED,
        responses=problems(400, 413, 422, 429),
        summary="Email a password-reset link, if the address has an active account",
        description="The same answer, in the same time, whether or not the address has an account.",
    )
    async def request_password_reset(
        self, data: JSONBody[PasswordResetBody], account_lifecycle: NamedDependency[AccountLifecycle]
    ) -> None:
        await account_lifecycle.request_password_reset(data.email)

    @post(
        "/password-reset/confirm",
        operation_id="confirmPasswordReset",
        status_code=204,
        responses=problems(400, 413, 422, 429),
        summary="Set a new password with the token from a reset link",
        description=(
            "Spends every outstanding reset link of the user and revokes all their sessions. "
            "A bad token → 422 naming `token`; a weak password → 422 naming `new_password`."
        ),
    )
    async def confirm_password_reset(
        self, data: JSONBody[PasswordResetConfirmBody], account_lifecycle: NamedDependency[AccountLifecycle]
    ) -> None:
        await account_lifecycle.confirm_password_reset(data.token, data.new_password)
