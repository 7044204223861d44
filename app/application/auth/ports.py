"""Ports of the auth context: password hashing, tokens and the authentication cache."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar
from uuid import UUID

from app.domain.auth.model import ApiKey, Session
from app.domain.users.model import User


class PasswordHasher(Protocol):
    """Slow, salted hashing; adapters must keep the event loop free while they work."""

    async def hash(self, password: str) -> str: ...

    async def hash_many(self, passwords: Sequence[str]) -> list[str]:
        """Hash a batch at a lower share than ``hash`` and ``verify``: at most one of its hashes
        runs at a time across all batches, so a batch delays other requests' sign-ins by about
        one hash, however long it is."""

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Check a password; with no hash, spend the same time on a dummy one and return False.

        This is what keeps "unknown account" indistinguishable from "wrong password".
        """

    def needs_rehash(self, password_hash: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: UUID
    session_id: UUID


class AccessTokenCodec(Protocol):
    def issue(self, claims: AccessClaims, now: datetime) -> str: ...

    def decode(self, token: str) -> AccessClaims:
        """Verify signature, expiry and type locally; raise ``Unauthorized`` on any defect."""


class OpaqueTokens(Protocol):
    """Random bearer secrets (refresh tokens) stored only as hashes."""

    def new(self) -> tuple[str, str]:
        """A fresh ``(token, token_hash)`` pair."""

    def hash(self, token: str) -> str: ...


class AccountEmailJobs(Protocol):
    """Enqueues the jobs that mail account links; each ``request_id`` is one email, however often its job runs."""

    async def send_email_verification(self, user_id: UUID, request_id: UUID) -> None: ...

    async def send_password_reset(self, email: str, request_id: UUID) -> None: ...


#: What a caller authenticated with: a session (bearer tokens) or an API key.
Credential = TypeVar("Credential", Session, ApiKey)


@dataclass(frozen=True, slots=True)
class CachedPrincipal(Generic[Credential]):
    """A cache answer: the credential and its user if cached, and the version read with them.

    The version is read *before* the database is asked, and stored with what the database
    returned: if the user, one of its sessions or one of its keys changed in between, the
    stored entry carries a stale version and is never served.
    """

    found: tuple[Credential, User] | None
    version: int


class PrincipalCache(Protocol):
    """What authentication reads on every request, kept off the database.

    Entries are found by the credential (a session id, an API key's hash: never the key)
    and checked against the version of the user they name.
    """

    async def lookup(self, session_id: UUID, user_id: UUID) -> CachedPrincipal[Session]: ...

    async def store(self, session: Session, user: User, version: int) -> None: ...

    async def lookup_api_key(self, key_hash: str, user_id: UUID) -> CachedPrincipal[ApiKey]:
        """The key with this hash and its owner, expected to be ``user_id``."""

    async def store_api_key(self, key: ApiKey, user: User, version: int) -> None: ...
