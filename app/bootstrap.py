"""The composition root: the one place that builds adapters from settings.

Every entry point (HTTP app, CLI, gRPC server, consumer, job worker and scheduler) calls
``build_container`` so that they all share one wiring and one set of use cases.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import uuid_utils.compat as uuid_utils
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.application.auth.api_keys import ApiKeyCommands
from app.application.auth.commands import AuthCommands
from app.application.auth.policy import TokenPolicy
from app.application.auth.purge import SessionPurge
from app.application.auth.queries import AuthQueries
from app.application.inbound import InboundMessages
from app.application.listing import CursorCodec
from app.application.notifications import WelcomeEmails
from app.application.ports import UnitOfWork
from app.application.users.admin import UserAdministration
from app.application.users.commands import UserCommands
from app.domain.users.events import USER_EVENTS
from app.infrastructure.auth_cache import NoPrincipalCache, RedisPrincipalCache
from app.infrastructure.config import Settings
from app.infrastructure.db.engine import create_engine, create_session_factory
from app.infrastructure.db.uow import SqlAlchemyUnitOfWork
from app.infrastructure.db.user_listing import SqlUserListing
from app.infrastructure.email import create_email_sender
from app.infrastructure.jobs.broker import create_job_broker
from app.infrastructure.jobs.definitions import Jobs
from app.infrastructure.messaging.broker import Broker, create_broker
from app.infrastructure.messaging.publisher import create_publisher
from app.infrastructure.outbox.catalog import EventCatalog
from app.infrastructure.outbox.relay import OutboxRelay
from app.infrastructure.outbox.subscribers import CommittedEvents
from app.infrastructure.rate_limit import Rate, RateLimiter
from app.infrastructure.redis import create_redis
from app.infrastructure.security.passwords import Argon2PasswordHasher
from app.infrastructure.security.tokens import JwtAccessTokenCodec, Sha256OpaqueTokens


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Container:
    settings: Settings
    engine: AsyncEngine
    redis: Redis | None
    #: Made from ``BROKER_URL`` (None when unset); connected by its first user, not here.
    broker: Broker | None
    relay: OutboxRelay
    #: Every event the service publishes (each aggregate's list, registered below).
    events: EventCatalog
    #: The relay's in-process destination (the broker, if any, is the other): this service's subscribers.
    committed_events: CommittedEvents
    #: The job broker (Redis with ``REDIS_URL``, else in-process) and the jobs on it.
    jobs: Jobs
    inbound: InboundMessages
    auth_rate_limiter: RateLimiter
    auth: AuthCommands
    auth_queries: AuthQueries
    api_keys: ApiKeyCommands
    users: UserCommands
    administration: UserAdministration
    welcome_emails: WelcomeEmails
    session_purge: SessionPurge

    async def close(self, *, job_broker: bool = True) -> None:
        """Release every connection. ``job_broker=False`` leaves the job broker to a worker or
        scheduler, which shuts it down itself (and calls this while doing so)."""
        try:
            if job_broker:
                # First: in embedded mode it lets jobs in flight finish, and they need the database.
                await self.jobs.broker.shutdown()
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
    engine = create_engine(settings)
    session_factory = create_session_factory(engine)
    redis = create_redis(settings)
    principal_cache: RedisPrincipalCache | NoPrincipalCache = (
        RedisPrincipalCache(redis, ttl=settings.auth_cache_ttl_seconds) if redis is not None else NoPrincipalCache()
    )

    broker = create_broker(settings)
    committed_events = CommittedEvents()
    relay = OutboxRelay(engine, create_publisher(broker) if broker is not None else None, committed_events)

    def unit_of_work() -> UnitOfWork:
        return SqlAlchemyUnitOfWork(session_factory, principal_cache, relay)

    hasher = Argon2PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_kib=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
    )
    policy = TokenPolicy(
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
    )
    access_tokens = JwtAccessTokenCodec(settings.secret_key, policy.access_ttl)
    secrets = Sha256OpaqueTokens()
    # A key of its own for cursors, derived from the secret: a cursor can never pass as a token.
    cursors = CursorCodec(hashlib.sha256(b"listing-cursor:" + settings.secret_key.encode()).digest())
    welcome_emails = WelcomeEmails(
        uow=unit_of_work,
        sender=create_email_sender(settings),
        clock=utc_now,
        grace=timedelta(seconds=settings.welcome_sweep_after_seconds),
    )
    session_purge = SessionPurge(uow=unit_of_work, clock=utc_now)
    jobs = Jobs(
        create_job_broker(settings),
        welcome_emails=welcome_emails,
        session_purge=session_purge,
        purge_cron=settings.purge_sessions_cron,
        welcome_sweep_cron=settings.welcome_sweep_cron,
    )
    jobs.start_on(committed_events)
    return Container(
        settings=settings,
        engine=engine,
        redis=redis,
        broker=broker,
        relay=relay,
        events=EventCatalog(USER_EVENTS),
        committed_events=committed_events,
        jobs=jobs,
        inbound=InboundMessages(uow=unit_of_work, clock=utc_now),
        auth_rate_limiter=RateLimiter(Rate.parse(settings.rate_limit_auth), redis, namespace="auth"),
        auth=AuthCommands(
            uow=unit_of_work,
            hasher=hasher,
            access_tokens=access_tokens,
            refresh_tokens=secrets,
            policy=policy,
            clock=utc_now,
            ids=uuid_utils.uuid7,
        ),
        auth_queries=AuthQueries(
            uow=unit_of_work, access_tokens=access_tokens, secrets=secrets, cache=principal_cache, clock=utc_now
        ),
        api_keys=ApiKeyCommands(uow=unit_of_work, secrets=secrets, clock=utc_now, ids=uuid_utils.uuid7),
        users=UserCommands(uow=unit_of_work, hasher=hasher, clock=utc_now, ids=uuid_utils.uuid7),
        administration=UserAdministration(
            uow=unit_of_work,
            listing=SqlUserListing(session_factory, cursors),
            cursors=cursors,
            hasher=hasher,
            clock=utc_now,
            ids=uuid_utils.uuid7,
            bulk_max_passwords=settings.bulk_max_passwords,
        ),
        welcome_emails=welcome_emails,
        session_purge=session_purge,
    )
