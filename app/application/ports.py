"""Ports the use cases depend on; infrastructure provides the adapters, tests provide fakes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar
from uuid import UUID

from app.application.listing import ListQuery, Page
from app.domain.auth.model import ApiKey, Session
from app.domain.auth.ports import ApiKeyRepository, RefreshTokenRepository, SessionRepository
from app.domain.users.model import User
from app.domain.users.ports import UserRepository


class DependencyUnavailable(Exception):
    """A backing service (database, cache, broker) cannot be reached right now.

    Not a ``DomainError``: it says nothing about the request, only that it can be retried.
    """

    def __init__(self, dependency: str) -> None:
        super().__init__(f"The {dependency} is unavailable")
        self.dependency = dependency


class Inbox(Protocol):
    async def claim(self, message_id: UUID, message_type: str, now: datetime) -> bool:
        """Record a message as applied; False when it already was (a duplicate or redelivery).

        The claim commits with the change the message causes, so a message is applied
        at most once even if the consumer dies after the change and before the ack.
        """


class SentEmails(Protocol):
    async def claim(self, user_id: UUID, kind: str, now: datetime) -> bool:
        """Record that the ``kind`` email to this user goes out now; False when another claim holds it.

        The claim commits with the unit of work, so a use case that claims, sends and then
        commits sends at most once: a second claim waits for the first transaction and then
        finds it (or, if that one rolled back because the send failed, takes its place).
        """

    async def owed(
        self, kind: str, *, registered_from: datetime, registered_before: datetime, limit: int
    ) -> list[UUID]:
        """Active users registered in ``[registered_from, registered_before)`` with no ``kind`` claim, oldest first."""


class UnitOfWork(Protocol):
    """One transaction over every repository.

    Leaving the ``async with`` block without ``commit()`` rolls back, so a use case that
    raises half-way leaves nothing behind. Adapters translate storage failures into
    ``DependencyUnavailable`` and uniqueness violations into domain conflicts.
    """

    @property
    def users(self) -> UserRepository: ...

    @property
    def sessions(self) -> SessionRepository: ...

    @property
    def refresh_tokens(self) -> RefreshTokenRepository: ...

    @property
    def api_keys(self) -> ApiKeyRepository: ...

    @property
    def inbox(self) -> Inbox: ...

    @property
    def sent_emails(self) -> SentEmails: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
Clock = Callable[[], datetime]
IdFactory = Callable[[], UUID]


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


class UserListing(Protocol):
    """The read side of users: one page of a filtered, ordered listing, with its next cursor."""

    async def page(self, query: ListQuery) -> Page[User]: ...


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
