"""The composition root: the one place that builds adapters from settings.

Every entry point (HTTP app, CLI, gRPC server, consumer, and the worker to come) calls
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
from app.application.auth.queries import AuthQueries
from app.application.inbound import InboundMessages
from app.application.listing import CursorCodec
from app.application.ports import UnitOfWork
from app.application.users.admin import UserAdministration
from app.application.users.commands import UserCommands
from app.infrastructure.auth_cache import NoPrincipalCache, RedisPrincipalCache
from app.infrastructure.config import Settings
from app.infrastructure.db.engine import create_engine, create_session_factory
from app.infrastructure.db.uow import SqlAlchemyUnitOfWork
from app.infrastructure.db.user_listing import SqlUserListing
from app.infrastructure.messaging.broker import Broker, create_broker
from app.infrastructure.messaging.publisher import create_publisher
from app.infrastructure.messaging.relay import InProcessPublisher, OutboxRelay
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
    #: Where committed events go when there is no broker (embedded mode).
    in_process_events: InProcessPublisher
    inbound: InboundMessages
    auth_rate_limiter: RateLimiter
    auth: AuthCommands
    auth_queries: AuthQueries
    api_keys: ApiKeyCommands
    users: UserCommands
    administration: UserAdministration

    async def close(self) -> None:
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
    in_process_events = InProcessPublisher()
    relay = OutboxRelay(engine, create_publisher(broker) if broker is not None else in_process_events)

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
    return Container(
        settings=settings,
        engine=engine,
        redis=redis,
        broker=broker,
        relay=relay,
        in_process_events=in_process_events,
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
        ),
    )
