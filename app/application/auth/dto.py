"""Request and response bodies of the authentication use cases."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from app.application.users.dto import TEXT_PATTERN, Input, PasswordField
from app.domain.auth.model import Session
from app.domain.users.values import PASSWORD_MAX_LENGTH

# Sign-in accepts any string up to the bounds: a malformed email is just an unknown one,
# and answering 401 rather than 422 tells a guesser nothing new.
LoginEmail = Annotated[str, msgspec.Meta(min_length=1, max_length=320, pattern=TEXT_PATTERN)]
LoginPassword = Annotated[str, msgspec.Meta(min_length=1, max_length=PASSWORD_MAX_LENGTH)]
# Generous: a wrong kind of token (an access token, say) must read as 401, not as 422.
OpaqueToken = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class TokenRequestBody(Input):
    email: LoginEmail
    password: LoginPassword


class EmailVerificationConfirmBody(Input):
    token: OpaqueToken


class PasswordResetBody(Input):
    # Any string, as for sign-in: a malformed address is one without an account, answered alike.
    email: LoginEmail


class PasswordResetConfirmBody(Input):
    token: OpaqueToken
    new_password: PasswordField


class TokenForm(Input):
    """OAuth2 password grant (RFC 6749 §4.3) as the OpenAPI UI's "Authorize" sends it."""

    username: LoginEmail
    password: LoginPassword
    grant_type: Literal["password"] | None = None
    scope: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    client_id: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    client_secret: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class RefreshBody(Input):
    refresh_token: OpaqueToken


class TokenPair(msgspec.Struct, kw_only=True):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    expires_in: int
    refresh_expires_in: int
    session_id: UUID


class SessionRead(msgspec.Struct, kw_only=True):
    id: UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool

    @classmethod
    def from_entity(cls, session: Session, *, current: bool) -> SessionRead:
        # The session's own fields by name (the owner and revocation have none here), and
        # whether it is the one asking.
        return msgspec.convert({**asdict(session), "current": current}, cls)


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Where a sign-in came from, shown back to the user in their session list."""

    user_agent: str | None = None
    ip: str | None = None


API_KEY_NAME_MAX = 100


#: An instant, so it needs an offset: a time without one means whatever the reader's zone is.
Instant = Annotated[datetime, msgspec.Meta(tz=True)]


class ApiKeyCreateBody(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=API_KEY_NAME_MAX, pattern=TEXT_PATTERN)]
    expires_at: Instant | None = None


class ApiKeyRead(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyRead, kw_only=True):
    """As ``ApiKeyRead``, plus the key itself: returned once, at creation, never again."""

    key: str
