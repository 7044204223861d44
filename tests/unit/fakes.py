"""In-memory stand-ins for the application's ports, for unit tests only.

They keep the semantics the use cases rely on, without any I/O:

- a unit of work publishes its changes only on ``commit()``; leaving the block without it
  drops them, exactly like a rolled-back transaction;
- repositories hand out copies, so changing an entity without ``save()`` changes nothing
  stored, as with the SQL adapters that build fresh entities from rows;
- a taken email (case-insensitive, soft-deleted users included, like the unique index on
  ``lower(email)``) surfaces as ``EmailAlreadyRegistered`` at commit, not at ``add()``.

Units of work do not lock rows: two interleaved ones see each other's changes only after
commit, and the later commit wins row by row.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from uuid import UUID

from app.application.auth.commands import AuthCommands
from app.application.auth.dto import ClientInfo, TokenPair
from app.application.auth.lifecycle import AccountLifecycle
from app.application.auth.links import LinkPolicy
from app.application.auth.policy import TokenPolicy
from app.application.auth.ports import AccessClaims
from app.application.auth.principal import Principal
from app.application.auth.purge import SessionPurge
from app.application.auth.queries import AuthQueries
from app.application.listing import CursorCodec, ListQuery, Page
from app.application.notifications import EmailMessage, WelcomeEmails
from app.application.organizations.invitations import InvitationPolicy
from app.application.organizations.ports import OrganizationUnitOfWork
from app.application.ports import DependencyUnavailable
from app.application.tasks.ports import TaskUnitOfWork
from app.application.users.admin import UserAdministration
from app.application.users.commands import UserCommands
from app.application.users.dto import UserRead
from app.bootstrap import Adapters, Limits, UseCases, build_use_cases
from app.domain.auth.model import AccountToken, ApiKey, RefreshToken, Session, TokenPurpose
from app.domain.errors import EmailAlreadyRegistered, Unauthorized
from app.domain.tasks.model import Task
from app.domain.users.events import UserEvent
from app.domain.users.model import User
from app.infrastructure.auth_cache import NoPrincipalCache
from app.infrastructure.security.tokens import Sha256OpaqueTokens

K = TypeVar("K")
V = TypeVar("V")


class _Table(Generic[K, V]):
    """One table as a unit of work sees it: the committed rows overlaid with its own staged writes."""

    def __init__(self, committed: dict[K, V]) -> None:
        self._committed = committed
        self._staged: dict[K, V] = {}
        self._deleted: set[K] = set()

    def __contains__(self, key: K) -> bool:
        return key not in self._deleted and (key in self._staged or key in self._committed)

    def get(self, key: K) -> V | None:
        if key in self._deleted:
            return None
        row = self._staged[key] if key in self._staged else self._committed.get(key)
        return copy.deepcopy(row)

    def items(self) -> list[tuple[K, V]]:
        merged = {**self._committed, **self._staged}
        return [(key, copy.deepcopy(row)) for key, row in merged.items() if key not in self._deleted]

    def rows(self) -> list[V]:
        return [row for _, row in self.items()]

    def put(self, key: K, row: V) -> None:
        self._deleted.discard(key)
        self._staged[key] = copy.deepcopy(row)

    def delete(self, key: K) -> None:
        self._staged.pop(key, None)
        self._deleted.add(key)

    def publish(self) -> None:
        self._committed.update(self._staged)
        for key in self._deleted:
            self._committed.pop(key, None)
        self._staged.clear()
        self._deleted.clear()


class FakeUserRepository:
    def __init__(self, table: _Table[UUID, User]) -> None:
        self._table = table

    async def get(self, user_id: UUID, *, include_deleted: bool = False, for_update: bool = False) -> User | None:
        user = self._table.get(user_id)
        return user if user is not None and (include_deleted or user.deleted_at is None) else None

    async def get_many(self, user_ids: Collection[UUID], *, for_update: bool = False) -> list[User]:
        return [user for user_id in user_ids if (user := await self.get(user_id)) is not None]

    async def another_active_admin(self, excluding: Collection[UUID]) -> bool:
        return any(user.is_active_admin and user.id not in excluding for user in self._table.rows())

    async def taken_emails(self, emails: Collection[str]) -> set[str]:
        wanted = {email.lower() for email in emails}
        return {user.email.lower() for user in self._table.rows()} & wanted

    async def get_by_email(self, email: str) -> User | None:
        wanted = email.lower()
        return next((u for u in self._table.rows() if u.email.lower() == wanted and u.deleted_at is None), None)

    async def add(self, user: User) -> None:
        assert user.id not in self._table, f"user {user.id} added twice"
        self._table.put(user.id, user)

    async def add_many(self, users: Sequence[User]) -> None:
        for user in users:
            await self.add(user)

    async def save(self, user: User) -> None:
        assert user.id in self._table, f"user {user.id} saved but never added"
        self._table.put(user.id, user)

    async def save_many(self, users: Sequence[User]) -> None:
        for user in users:
            await self.save(user)

    async def lock(self, user_ids: Collection[UUID]) -> set[UUID]:
        return {user.id for user in await self.get_many(user_ids)}

    async def merge_meta(self, patches: Mapping[UUID, dict[str, Any]], now: datetime) -> dict[UUID, dict[str, Any]]:
        merged: dict[UUID, dict[str, Any]] = {}
        for user in await self.get_many(patches):
            if user.update_profile({"meta": {**user.meta, **patches[user.id]}}, now):
                user.pull_events()  # the caller records them
                await self.save(user)
                merged[user.id] = user.meta
        return merged

    async def deactivate_many(self, user_ids: Collection[UUID], now: datetime) -> dict[UUID, bool]:
        ended: dict[UUID, bool] = {}
        for user in await self.get_many(user_ids):
            was_admin = user.is_active_admin
            if user.set_active(False, now):
                user.pull_events()  # the caller records them
                await self.save(user)
                ended[user.id] = was_admin
        return ended

    def record(self, events: Iterable[UserEvent]) -> None:
        """The fake database keeps no outbox."""


class FakeSessionRepository:
    def __init__(
        self, sessions: _Table[UUID, Session], users: _Table[UUID, User], tokens: _Table[str, RefreshToken]
    ) -> None:
        self._sessions = sessions
        self._users = users
        self._tokens = tokens

    async def get(self, session_id: UUID) -> Session | None:
        return self._sessions.get(session_id)

    async def get_with_user(self, session_id: UUID) -> tuple[Session, User] | None:
        session = self._sessions.get(session_id)
        if session is None:
            return None
        user = self._users.get(session.user_id)
        if user is None or user.deleted_at is not None:
            return None
        return session, user

    async def add(self, session: Session) -> None:
        assert session.id not in self._sessions, f"session {session.id} added twice"
        self._sessions.put(session.id, session)

    async def save(self, session: Session) -> None:
        assert session.id in self._sessions, f"session {session.id} saved but never added"
        self._sessions.put(session.id, session)

    async def list_active(self, user_id: UUID, now: datetime) -> list[Session]:
        mine = [s for s in self._sessions.rows() if s.user_id == user_id and s.is_active(now)]
        return sorted(mine, key=lambda s: s.created_at, reverse=True)

    async def revoke_all(self, user_ids: Collection[UUID], now: datetime, *, keep: UUID | None = None) -> None:
        for session in self._sessions.rows():
            if session.user_id in user_ids and session.revoked_at is None and session.id != keep:
                session.revoke(now)
                self._sessions.put(session.id, session)

    async def delete_ended(self, before: datetime, limit: int) -> int:
        ended = [
            s.id
            for s in self._sessions.rows()
            if s.expires_at < before or (s.revoked_at is not None and s.revoked_at < before)
        ][:limit]
        for token_hash, token in self._tokens.items():
            if token.session_id in ended:
                self._tokens.delete(token_hash)
        for session_id in ended:
            self._sessions.delete(session_id)
        return len(ended)


class FakeRefreshTokenRepository:
    def __init__(self, table: _Table[str, RefreshToken]) -> None:
        self._table = table

    async def add(self, token: RefreshToken) -> None:
        assert token.token_hash not in self._table, "refresh token hash added twice"
        self._table.put(token.token_hash, token)

    async def spend(self, token_hash: str, now: datetime) -> RefreshToken | None:
        token = self._table.get(token_hash)
        if token is not None and token.spent_at is None:
            self._table.put(token_hash, replace(token, spent_at=now))
        return token


class FakeApiKeyRepository:
    def __init__(self, keys: _Table[UUID, ApiKey], users: _Table[UUID, User]) -> None:
        self._keys = keys
        self._users = users

    async def add(self, key: ApiKey) -> None:
        assert key.id not in self._keys, f"API key {key.id} added twice"
        self._keys.put(key.id, key)

    async def get(self, key_id: UUID) -> ApiKey | None:
        return self._keys.get(key_id)

    async def save(self, key: ApiKey) -> None:
        assert key.id in self._keys, f"API key {key.id} saved but never added"
        self._keys.put(key.id, key)

    async def list_unrevoked(self, user_id: UUID) -> list[ApiKey]:
        mine = [k for k in self._keys.rows() if k.user_id == user_id and k.revoked_at is None]
        return sorted(mine, key=lambda k: k.created_at, reverse=True)

    async def get_with_user(self, prefix: str) -> tuple[ApiKey, User] | None:
        key = next((k for k in self._keys.rows() if k.prefix == prefix), None)
        user = self._users.get(key.user_id) if key else None
        return (key, user) if key and user and user.deleted_at is None else None

    async def touch(self, key_id: UUID, now: datetime, *, unless_since: datetime) -> None:
        key = self._keys.get(key_id)
        if key is not None and (key.last_used_at is None or key.last_used_at < unless_since):
            key.last_used_at = now
            self._keys.put(key_id, key)


@dataclass
class FakeDatabase:
    """The committed state, shared by every unit of work it opens."""

    users: dict[UUID, User] = field(default_factory=dict)
    sessions: dict[UUID, Session] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    api_keys: dict[UUID, ApiKey] = field(default_factory=dict)
    account_tokens: dict[UUID, AccountToken] = field(default_factory=dict)
    inbox: dict[UUID, str] = field(default_factory=dict)
    sent_emails: dict[tuple[UUID, str], datetime] = field(default_factory=dict)

    def unit_of_work(self) -> FakeUnitOfWork:
        """The ``UnitOfWorkFactory`` handed to the use cases."""
        return FakeUnitOfWork(self)

    def user_by_email(self, email: str) -> User:
        """A committed user, for assertions on what is stored rather than on what was returned."""
        return copy.deepcopy(next(u for u in self.users.values() if u.email == email))

    def put_user(self, user: User) -> None:
        """Write a user straight into committed state, for states no self-service path produces."""
        self.users[user.id] = copy.deepcopy(user)


@dataclass(frozen=True)
class _Tables:
    users: _Table[UUID, User]
    sessions: _Table[UUID, Session]
    refresh_tokens: _Table[str, RefreshToken]
    api_keys: _Table[UUID, ApiKey]
    account_tokens: _Table[UUID, AccountToken]
    inbox: _Table[UUID, str]
    sent_emails: _Table[tuple[UUID, str], datetime]


class FakeAccountTokens:
    def __init__(self, table: _Table[UUID, AccountToken]) -> None:
        self._table = table

    async def claim(self, token: AccountToken) -> bool:
        if token.id in self._table:
            return False
        self._table.put(token.id, token)
        return True

    async def spend(self, token_hash: str, purpose: TokenPurpose, now: datetime) -> UUID | None:
        for token in self._table.rows():
            if token.token_hash == token_hash and token.purpose is purpose:
                if token.spent_at is not None or token.expires_at <= now:
                    return None
                self._table.put(token.id, replace(token, spent_at=now))
                return token.user_id
        return None

    async def spend_all(self, user_id: UUID, purpose: TokenPurpose, now: datetime) -> None:
        for token in self._table.rows():
            if token.user_id == user_id and token.purpose is purpose and token.spent_at is None:
                self._table.put(token.id, replace(token, spent_at=now))


class FakeInbox:
    def __init__(self, table: _Table[UUID, str]) -> None:
        self._table = table

    async def claim(self, message_id: UUID, message_type: str, now: datetime) -> bool:
        if message_id in self._table:
            return False
        self._table.put(message_id, message_type)
        return True

    async def claim_many(self, claims: Sequence[tuple[UUID, str]], now: datetime) -> set[UUID]:
        return {message_id for message_id, message_type in claims if await self.claim(message_id, message_type, now)}


class FakeSentEmails:
    def __init__(self, table: _Table[tuple[UUID, str], datetime], users: _Table[UUID, User]) -> None:
        self._table = table
        self._users = users

    async def claim(self, user_id: UUID, kind: str, now: datetime) -> bool:
        if (user_id, kind) in self._table:
            return False
        self._table.put((user_id, kind), now)
        return True

    async def owed(
        self, kind: str, *, registered_from: datetime, registered_before: datetime, limit: int
    ) -> list[UUID]:
        users = sorted(self._users.rows(), key=lambda user: (user.created_at, user.id))
        return [
            user.id
            for user in users
            if registered_from <= user.created_at < registered_before
            and user.is_active
            and user.deleted_at is None
            and (user.id, kind) not in self._table
        ][:limit]


class FakeUnitOfWork:
    def __init__(self, database: FakeDatabase) -> None:
        self._database = database
        self._tables: _Tables | None = None
        self._used = False
        self.organization_id: UUID | None = None

    @property
    def users(self) -> FakeUserRepository:
        return FakeUserRepository(self._open().users)

    @property
    def sessions(self) -> FakeSessionRepository:
        tables = self._open()
        return FakeSessionRepository(tables.sessions, tables.users, tables.refresh_tokens)

    @property
    def refresh_tokens(self) -> FakeRefreshTokenRepository:
        return FakeRefreshTokenRepository(self._open().refresh_tokens)

    @property
    def account_tokens(self) -> FakeAccountTokens:
        return FakeAccountTokens(self._open().account_tokens)

    @property
    def inbox(self) -> FakeInbox:
        return FakeInbox(self._open().inbox)

    @property
    def sent_emails(self) -> FakeSentEmails:
        tables = self._open()
        return FakeSentEmails(tables.sent_emails, tables.users)

    @property
    def api_keys(self) -> FakeApiKeyRepository:
        tables = self._open()
        return FakeApiKeyRepository(tables.api_keys, tables.users)

    async def __aenter__(self) -> Self:
        assert not self._used, "a unit of work is entered once"
        self._used = True
        db = self._database
        self._tables = _Tables(
            _Table(db.users),
            _Table(db.sessions),
            _Table(db.refresh_tokens),
            _Table(db.api_keys),
            _Table(db.account_tokens),
            _Table(db.inbox),
            _Table(db.sent_emails),
        )
        return self

    async def scope_to(self, organization_id: UUID) -> None:
        self.organization_id = organization_id

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Dropping the overlays is the rollback: nothing staged since the last commit survives.
        self._tables = None

    async def commit(self) -> None:
        tables = self._open()
        emails = Counter(user.email.lower() for user in tables.users.rows())
        if any(count > 1 for count in emails.values()):
            raise EmailAlreadyRegistered
        tables.users.publish()
        tables.sessions.publish()
        tables.refresh_tokens.publish()
        tables.api_keys.publish()
        tables.account_tokens.publish()
        tables.inbox.publish()
        tables.sent_emails.publish()

    def _open(self) -> _Tables:
        assert self._tables is not None, "repositories and commit() are only available inside `async with`"
        return self._tables


@dataclass
class FakePasswordHasher:
    """An instant, deterministic stand-in for argon2 that records every call.

    The "hash" is the password tagged with ``scheme``, which plays the part of argon2's
    parameters: a hash made under another scheme still verifies but needs rehashing.
    Recording ``verify`` calls lets tests check that the slow path ran at all (timing
    equalisation), which no return value can show.
    """

    scheme: str = "v1"
    hash_calls: list[str] = field(default_factory=list)
    verify_calls: list[tuple[str | None, str]] = field(default_factory=list)

    async def hash(self, password: str) -> str:
        self.hash_calls.append(password)
        return f"fake${self.scheme}${password}"

    async def hash_many(self, passwords: Sequence[str]) -> list[str]:
        return [await self.hash(password) for password in passwords]

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self.verify_calls.append((password_hash, password))
        if password_hash is None:
            return False
        tag, _, rest = password_hash.partition("$")
        _scheme, _, secret = rest.partition("$")
        return tag == "fake" and secret == password

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(f"fake${self.scheme}$")


class FakeClock:
    """Stands still until a test moves it."""

    def __init__(self, start: datetime = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


class SequentialIds:
    """Ids 1, 2, 3, … as UUIDs: readable in failure output and never colliding."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self) -> UUID:
        return UUID(int=next(self._counter))


class FakeAccessTokens:
    """Readable access tokens that carry their claims and never expire by themselves.

    Signing and token expiry are ``JwtAccessTokenCodec``'s job, tested against the wall
    clock in ``test_tokens.py``; here a token stays decodable however far a test moves
    the fake clock, so what the use cases check (the session) is all that can refuse it.
    """

    _KIND = "access"

    def issue(self, claims: AccessClaims, now: datetime) -> str:
        return f"{self._KIND}|{claims.user_id}|{claims.session_id}|{now.isoformat()}"

    def decode(self, token: str) -> AccessClaims:
        kind, _, rest = token.partition("|")
        user_id, _, rest = rest.partition("|")
        session_id, _, _issued_at = rest.partition("|")
        try:
            if kind != self._KIND:
                raise ValueError(kind)
            return AccessClaims(user_id=UUID(user_id), session_id=UUID(session_id))
        except ValueError:
            raise Unauthorized("Invalid access token") from None


EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
#: How many items of a bulk create may carry a password in the unit tests.
BULK_MAX_PASSWORDS = 3
POLICY = TokenPolicy(access_ttl=timedelta(minutes=15), refresh_ttl=timedelta(days=14))
#: Small batches, so that a handful of sessions spans several of them.
LIMITS = Limits(bulk_max_passwords=BULK_MAX_PASSWORDS, welcome_grace=timedelta(minutes=10), purge_batch_size=2)


@dataclass
class FakeEmailSender:
    """Keeps what it is given; refuses the next ``failures`` messages, as a mail server that is down."""

    sent: list[EmailMessage] = field(default_factory=list)
    failures: int = 0

    async def send(self, message: EmailMessage) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise DependencyUnavailable("mail server")
        self.sent.append(message)


@dataclass
class FakeAccountEmailJobs:
    """Keeps the jobs it is asked to enqueue; a test runs them by calling the use case's job method."""

    verifications: list[tuple[UUID, UUID]] = field(default_factory=list)
    resets: list[tuple[str, UUID]] = field(default_factory=list)
    invitations: list[UUID] = field(default_factory=list)

    async def send_email_verification(self, user_id: UUID, request_id: UUID) -> None:
        self.verifications.append((user_id, request_id))

    async def send_password_reset(self, email: str, request_id: UUID) -> None:
        self.resets.append((email, request_id))

    async def send_invitation_email(self, invitation_id: UUID) -> None:
        self.invitations.append(invitation_id)


#: Where unit-test links point, and how long they live.
LINKS = LinkPolicy(
    public_url="https://app.example",
    ttls={TokenPurpose.EMAIL_VERIFICATION: timedelta(days=2), TokenPurpose.PASSWORD_RESET: timedelta(hours=1)},
)


class UnusedListing:
    """Listing is SQL through and through; it is tested on real databases, never on a fake."""

    async def page(self, query: ListQuery) -> Page[UserRead]:
        raise AssertionError("listing belongs in the integration tests")


class UnusedTenantListing:
    """The organizations' and members' listings: SQL, tested on real databases too."""

    async def page(self, owner_id: UUID, query: ListQuery) -> Page[Any]:
        raise AssertionError("listing belongs in the integration tests")


def unused_organization_uow() -> OrganizationUnitOfWork:
    """The tenancy's use cases are tested end to end on PostgreSQL, where its locks and indexes are."""
    raise AssertionError("the tenancy's use cases belong in the end-to-end tests")


class UnusedTaskListing:
    """As ``UnusedListing``, for an organization's tasks."""

    async def page(self, organization_id: UUID, query: ListQuery) -> Page[Task]:
        raise AssertionError("listing belongs in the integration tests")


def unused_task_unit_of_work() -> TaskUnitOfWork:
    """The tasks' use cases run on real databases (row-level security is half of what they do)."""
    raise AssertionError("the tasks' use cases belong in the integration and end-to-end tests")


@dataclass
class Harness:
    """The real use cases wired to the fakes by ``app.bootstrap.build_use_cases``, as the service wires them.

    Refresh tokens use the real (pure) ``Sha256OpaqueTokens``; access tokens use
    ``FakeAccessTokens``, so that moving the clock ages sessions without the wall clock
    expiring JWTs underneath the test.
    """

    db: FakeDatabase = field(default_factory=FakeDatabase)
    hasher: FakePasswordHasher = field(default_factory=FakePasswordHasher)
    clock: FakeClock = field(default_factory=FakeClock)
    ids: SequentialIds = field(default_factory=SequentialIds)
    policy: TokenPolicy = POLICY
    access_tokens: FakeAccessTokens = field(default_factory=FakeAccessTokens)
    emails: FakeEmailSender = field(default_factory=FakeEmailSender)
    email_jobs: FakeAccountEmailJobs = field(default_factory=FakeAccountEmailJobs)
    use_cases: UseCases = field(init=False)

    def __post_init__(self) -> None:
        self.use_cases = build_use_cases(
            Adapters(
                uow=self.db.unit_of_work,
                hasher=self.hasher,
                access_tokens=self.access_tokens,
                secrets=Sha256OpaqueTokens(),
                principal_cache=NoPrincipalCache(),
                listing=UnusedListing(),
                organization_uow=unused_organization_uow,
                organization_listing=UnusedTenantListing(),
                member_listing=UnusedTenantListing(),
                invitation_email_jobs=self.email_jobs,
                invitation_policy=InvitationPolicy(public_url=LINKS.public_url, ttl=timedelta(days=7)),
                cursors=CursorCodec(b"unit-test-cursor-key"),
                email_sender=self.emails,
                account_email_jobs=self.email_jobs,
                links=LINKS,
                clock=self.clock,
                ids=self.ids,
                policy=self.policy,
                limits=LIMITS,
                task_uow=unused_task_unit_of_work,
                task_listing=UnusedTaskListing(),
            )
        )

    @property
    def auth(self) -> AuthCommands:
        return self.use_cases.auth

    @property
    def auth_queries(self) -> AuthQueries:
        return self.use_cases.auth_queries

    @property
    def users(self) -> UserCommands:
        return self.use_cases.users

    @property
    def administration(self) -> UserAdministration:
        return self.use_cases.administration

    @property
    def welcome_emails(self) -> WelcomeEmails:
        return self.use_cases.welcome_emails

    @property
    def lifecycle(self) -> AccountLifecycle:
        return self.use_cases.account_lifecycle

    @property
    def session_purge(self) -> SessionPurge:
        return self.use_cases.session_purge

    async def sign_up(self, email: str = EMAIL, password: str = PASSWORD, **profile: Any) -> UserRead:
        return await self.users.sign_up(email, password, profile)

    async def sign_in(
        self, email: str = EMAIL, password: str = PASSWORD, client: ClientInfo | None = None
    ) -> tuple[TokenPair, Principal]:
        """Log in and authenticate with the new access token, as a client's next request would."""
        pair = await self.auth.issue_tokens(email, password, client or ClientInfo())
        return pair, await self.auth_queries.authenticate(pair.access_token)
