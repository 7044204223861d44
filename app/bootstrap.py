"""The composition root, in two parts: adapters from settings, use cases from adapters.

Every entry point (HTTP app, CLI, gRPC server, consumer, job worker and scheduler) calls
``build_container``, which runs both parts, so that they all share one wiring and one set
of use cases. The unit tests call the second part, ``build_use_cases``, over fakes: the
use cases they exercise are wired by the very function the service runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import uuid_utils.compat as uuid_utils
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.application.auth import purge
from app.application.auth.api_keys import ApiKeyCommands
from app.application.auth.commands import AuthCommands
from app.application.auth.lifecycle import AccountLifecycle
from app.application.auth.links import AccountLinks, LinkPolicy
from app.application.auth.policy import TokenPolicy
from app.application.auth.ports import (
    AccessTokenCodec,
    AccountEmailJobs,
    OpaqueTokens,
    PasswordHasher,
    PrincipalCache,
)
from app.application.auth.purge import SessionPurge
from app.application.auth.queries import AuthQueries
from app.application.inbound import InboundMessages
from app.application.listing import CursorCodec
from app.application.notifications import EmailSender, WelcomeEmails
from app.application.organizations.commands import OrganizationCommands
from app.application.organizations.invitations import InvitationPolicy, Invitations
from app.application.organizations.members import MemberCommands
from app.application.organizations.ports import (
    InvitationEmailJobs,
    MemberListing,
    OrganizationListing,
    OrganizationUnitOfWorkFactory,
)
from app.application.ports import Clock, IdFactory, UnitOfWork, UnitOfWorkFactory
from app.application.tasks.inbound import TaskInbound
from app.application.tasks.notifications import TaskEmails
from app.application.tasks.ports import TaskListing, TaskUnitOfWorkFactory
from app.application.tasks.use_cases import TaskUseCases
from app.application.users.admin import UserAdministration
from app.application.users.commands import UserCommands
from app.application.users.ports import UserListing
from app.domain.auth.model import TokenPurpose
from app.domain.organizations.events import ORGANIZATION_EVENTS, MemberRemoved
from app.domain.tasks.events import TASK_EVENTS
from app.domain.users.events import USER_EVENTS
from app.infrastructure.auth_cache import NoPrincipalCache, RedisPrincipalCache
from app.infrastructure.config import Settings
from app.infrastructure.db.engine import create_engine, create_session_factory
from app.infrastructure.db.organizations.listing import SqlMemberListing, SqlOrganizationListing
from app.infrastructure.db.organizations.uow import SqlOrganizationUnitOfWork
from app.infrastructure.db.tasks.listing import SqlTaskListing
from app.infrastructure.db.tasks.reactions import unassign_removed_member
from app.infrastructure.db.tasks.uow import SqlTaskUnitOfWork
from app.infrastructure.db.uow import Reactions, SqlAlchemyUnitOfWork
from app.infrastructure.db.user_listing import SqlUserListing
from app.infrastructure.email import create_email_sender
from app.infrastructure.jobs.deferred import DeferredJobs, JobUseCases
from app.infrastructure.messaging.broker import Broker, create_broker
from app.infrastructure.messaging.publisher import create_publisher
from app.infrastructure.outbox.catalog import EventCatalog
from app.infrastructure.outbox.relay import OutboxRelay
from app.infrastructure.outbox.subscribers import CommittedEvents
from app.infrastructure.outbox.tracing import EventTracing
from app.infrastructure.rate_limit import Rate, RateLimiter
from app.infrastructure.redis import create_redis
from app.infrastructure.security.passwords import Argon2PasswordHasher
from app.infrastructure.security.tokens import JwtAccessTokenCodec, Sha256OpaqueTokens

if TYPE_CHECKING:
    from app.infrastructure.jobs.definitions import Jobs


UnitOfWorkT = TypeVar("UnitOfWorkT", bound=SqlAlchemyUnitOfWork)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The use cases' tunable bounds: from settings in the service, small ones in unit tests."""

    bulk_max_passwords: int
    #: How long after sign-up the sweep takes over a welcome email the event did not send.
    welcome_grace: timedelta
    purge_batch_size: int = purge.BATCH_SIZE
    #: How far ahead of a task's due date its assignee is reminded (``TASK_REMINDER_WINDOW_SECONDS``).
    task_reminder_window: timedelta = timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Adapters:
    """Everything the use cases are built over: one implementation of each port."""

    uow: UnitOfWorkFactory
    #: The tenancy's unit of work: the accounts' repositories and the organizations'.
    organization_uow: OrganizationUnitOfWorkFactory
    hasher: PasswordHasher
    access_tokens: AccessTokenCodec
    secrets: OpaqueTokens
    principal_cache: PrincipalCache
    listing: UserListing
    organization_listing: OrganizationListing
    member_listing: MemberListing
    cursors: CursorCodec
    email_sender: EmailSender
    #: Enqueues the jobs that mail account links (verification, password reset).
    account_email_jobs: AccountEmailJobs
    invitation_email_jobs: InvitationEmailJobs
    links: LinkPolicy
    invitation_policy: InvitationPolicy
    clock: Clock
    ids: IdFactory
    policy: TokenPolicy
    limits: Limits
    #: The tasks context's unit of work (the tenancy's, with the tasks) and its listing.
    task_uow: TaskUnitOfWorkFactory
    task_listing: TaskListing


@dataclass(frozen=True, kw_only=True)
class UseCases:
    """Every use case of the service, each built once."""

    inbound: InboundMessages
    auth: AuthCommands
    auth_queries: AuthQueries
    api_keys: ApiKeyCommands
    users: UserCommands
    administration: UserAdministration
    welcome_emails: WelcomeEmails
    account_lifecycle: AccountLifecycle
    session_purge: SessionPurge
    organizations: OrganizationCommands
    members: MemberCommands
    invitations: Invitations
    tasks: TaskUseCases
    task_emails: TaskEmails


def build_use_cases(adapters: Adapters) -> UseCases:
    """The second part: the use cases over any set of adapters, real or fake."""
    a = adapters
    links = AccountLinks(secrets=a.secrets, policy=a.links, clock=a.clock)
    tasks = TaskUseCases(uow=a.task_uow, listing=a.task_listing, cursors=a.cursors, clock=a.clock, ids=a.ids)
    return UseCases(
        inbound=InboundMessages(
            uow=a.uow, clock=a.clock, handlers=[TaskInbound(uow=a.task_uow, tasks=tasks, clock=a.clock)]
        ),
        auth=AuthCommands(
            uow=a.uow,
            hasher=a.hasher,
            access_tokens=a.access_tokens,
            refresh_tokens=a.secrets,
            policy=a.policy,
            clock=a.clock,
            ids=a.ids,
        ),
        auth_queries=AuthQueries(
            uow=a.uow, access_tokens=a.access_tokens, secrets=a.secrets, cache=a.principal_cache, clock=a.clock
        ),
        api_keys=ApiKeyCommands(uow=a.uow, secrets=a.secrets, clock=a.clock, ids=a.ids),
        users=UserCommands(uow=a.uow, hasher=a.hasher, clock=a.clock, ids=a.ids),
        administration=UserAdministration(
            uow=a.uow,
            listing=a.listing,
            cursors=a.cursors,
            hasher=a.hasher,
            clock=a.clock,
            ids=a.ids,
            bulk_max_passwords=a.limits.bulk_max_passwords,
        ),
        welcome_emails=WelcomeEmails(
            uow=a.uow, sender=a.email_sender, links=links, clock=a.clock, ids=a.ids, grace=a.limits.welcome_grace
        ),
        account_lifecycle=AccountLifecycle(
            uow=a.uow,
            hasher=a.hasher,
            links=links,
            jobs=a.account_email_jobs,
            sender=a.email_sender,
            clock=a.clock,
            ids=a.ids,
        ),
        session_purge=SessionPurge(uow=a.uow, clock=a.clock, batch_size=a.limits.purge_batch_size),
        organizations=OrganizationCommands(
            uow=a.organization_uow, listing=a.organization_listing, cursors=a.cursors, clock=a.clock, ids=a.ids
        ),
        members=MemberCommands(uow=a.organization_uow, listing=a.member_listing, cursors=a.cursors, clock=a.clock),
        invitations=Invitations(
            uow=a.organization_uow,
            jobs=a.invitation_email_jobs,
            secrets=a.secrets,
            sender=a.email_sender,
            policy=a.invitation_policy,
            clock=a.clock,
            ids=a.ids,
        ),
        tasks=tasks,
        task_emails=TaskEmails(
            uow=a.task_uow, sender=a.email_sender, clock=a.clock, reminder_window=a.limits.task_reminder_window
        ),
    )


@dataclass(frozen=True, kw_only=True)
class Connections:
    """What the adapters hold open, and what entry points start, check and close."""

    settings: Settings
    engine: AsyncEngine
    redis: Redis | None
    #: Made from ``BROKER_URL`` (None when unset); connected by its first user, not here.
    broker: Broker | None
    relay: OutboxRelay
    #: The job broker (Redis with ``REDIS_URL``, else in-process) and the jobs on it, made on first use.
    deferred_jobs: DeferredJobs
    #: Every event the service publishes (each aggregate's list, registered below).
    events: EventCatalog
    #: The relay's in-process destination (the broker, if any, is the other): this service's subscribers.
    committed_events: CommittedEvents


def build_adapters(settings: Settings) -> tuple[Connections, Adapters]:
    """The first part: every adapter from settings, and the connections they share."""
    tracing = _start_tracing(settings)  # Before the engine: SQL statements are traced from its first.
    engine = create_engine(settings)
    session_factory = create_session_factory(engine)
    redis = create_redis(settings)
    principal_cache: RedisPrincipalCache | NoPrincipalCache = (
        RedisPrincipalCache(redis, ttl=settings.auth_cache_ttl_seconds) if redis is not None else NoPrincipalCache()
    )
    broker = create_broker(settings)
    committed_events = CommittedEvents(tracing)
    relay = OutboxRelay(
        engine, create_publisher(broker) if broker is not None else None, committed_events, tracing=tracing
    )
    deferred_jobs = DeferredJobs(settings)

    #: What contexts do in the transaction of another's event (registered here, by event class).
    reactions: Reactions = {MemberRemoved: [unassign_removed_member]}

    def units_of_work(kind: Callable[..., UnitOfWorkT]) -> Callable[[], UnitOfWorkT]:
        """A factory of one context's unit of work (``SqlAlchemyUnitOfWork`` or a subclass of it)."""
        return partial(kind, session_factory, principal_cache, relay, reactions, tracing)

    unit_of_work: Callable[[], UnitOfWork] = units_of_work(SqlAlchemyUnitOfWork)

    policy = TokenPolicy(
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        require_verified_email=settings.require_verified_email,
    )
    # A key of its own for cursors, derived from the secret: a cursor can never pass as a token.
    cursors = CursorCodec(hashlib.sha256(b"listing-cursor:" + settings.secret_key.encode()).digest())
    connections = Connections(
        settings=settings,
        engine=engine,
        redis=redis,
        broker=broker,
        relay=relay,
        deferred_jobs=deferred_jobs,
        events=EventCatalog(USER_EVENTS, ORGANIZATION_EVENTS, TASK_EVENTS),
        committed_events=committed_events,
    )
    hasher: PasswordHasher = Argon2PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_kib=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
    )
    if tracing is not None:
        from app.infrastructure.tracing.hashing import TracedPasswordHasher  # noqa: PLC0415 - only with tracing on

        hasher = TracedPasswordHasher(hasher)
    return connections, Adapters(
        uow=unit_of_work,
        organization_uow=units_of_work(SqlOrganizationUnitOfWork),
        hasher=hasher,
        access_tokens=JwtAccessTokenCodec(settings.secret_key, policy.access_ttl),
        secrets=Sha256OpaqueTokens(),
        principal_cache=principal_cache,
        listing=SqlUserListing(engine, cursors),
        organization_listing=SqlOrganizationListing(engine, cursors),
        member_listing=SqlMemberListing(engine, cursors),
        cursors=cursors,
        email_sender=create_email_sender(settings),
        account_email_jobs=deferred_jobs,
        invitation_email_jobs=deferred_jobs,
        links=LinkPolicy(
            public_url=settings.public_url,
            ttls={
                TokenPurpose.EMAIL_VERIFICATION: timedelta(seconds=settings.email_verification_ttl_seconds),
                TokenPurpose.PASSWORD_RESET: timedelta(seconds=settings.password_reset_ttl_seconds),
            },
        ),
        invitation_policy=InvitationPolicy(
            public_url=settings.public_url, ttl=timedelta(seconds=settings.invitation_ttl_seconds)
        ),
        clock=utc_now,
        ids=uuid_utils.uuid7,
        policy=policy,
        limits=Limits(
            bulk_max_passwords=settings.bulk_max_passwords,
            welcome_grace=timedelta(seconds=settings.welcome_sweep_after_seconds),
            task_reminder_window=timedelta(seconds=settings.task_reminder_window_seconds),
        ),
        task_uow=units_of_work(SqlTaskUnitOfWork),
        task_listing=SqlTaskListing(engine, cursors),
    )


def _start_tracing(settings: Settings) -> EventTracing | None:
    """With an OTLP endpoint: the process's tracer provider, and the outbox's tracing; else None, nothing imported."""
    if not settings.tracing_enabled:
        return None
    from app.infrastructure.tracing.events import OutboxTracing  # noqa: PLC0415 - OpenTelemetry only when on
    from app.infrastructure.tracing.provider import start_tracing  # noqa: PLC0415 - likewise

    start_tracing(settings)
    return OutboxTracing()


# No slots: two slotted bases could not be combined.
@dataclass(frozen=True, kw_only=True)
class Container(UseCases, Connections):
    """The use cases with the connections under them and what runs them (jobs, rate limits)."""

    auth_rate_limiter: RateLimiter

    @property
    def jobs(self) -> Jobs:
        """The job broker (Redis with ``REDIS_URL``, else in-process) and the jobs on it, made on first use."""
        return self.deferred_jobs.jobs

    async def close(self, *, job_broker: bool = True) -> None:
        """Release every connection. ``job_broker=False`` leaves the job broker to a worker or
        scheduler, which shuts it down itself (and calls this while doing so)."""
        try:
            if job_broker:
                # First: in embedded mode it lets jobs in flight finish, and they need the database.
                await self.deferred_jobs.shutdown()
        finally:
            await self._close_connections()

    async def _close_connections(self) -> None:
        try:
            await self.engine.dispose()
        finally:
            try:
                if self.redis is not None:
                    await self.redis.aclose()
            finally:
                if self.broker is not None:
                    await self.broker.stop()  # A no-op for a broker that never connected.


def build_container(settings: Settings) -> Container:
    """Both parts, and the jobs started by the events the use cases commit."""
    connections, adapters = build_adapters(settings)
    use_cases = build_use_cases(adapters)
    connections.deferred_jobs.bind(
        JobUseCases(
            welcome_emails=use_cases.welcome_emails,
            account_lifecycle=use_cases.account_lifecycle,
            invitations=use_cases.invitations,
            session_purge=use_cases.session_purge,
            task_emails=use_cases.task_emails,
        )
    )
    connections.deferred_jobs.start_on(connections.committed_events)
    return Container(
        **_fields_of(connections),
        **_fields_of(use_cases),
        auth_rate_limiter=RateLimiter(Rate.parse(settings.rate_limit_auth), connections.redis, namespace="auth"),
    )


def _fields_of(parts: Connections | UseCases) -> dict[str, Any]:
    return {field.name: getattr(parts, field.name) for field in fields(parts)}
