"""The servers a benchmark runs against: the configured ones, else throwaway servers.

``DATABASE_URL`` (a PostgreSQL URL), ``REDIS_URL`` and ``BROKER_URL`` (an AMQP URL) name
existing servers; when one is unset, the test suite's throwaway server is started and
removed afterwards (redis-server and rabbitmq-server are installed first if missing;
PostgreSQL's server is expected on the machine). Every benchmark (``just bench``,
``just bench-events``, ``just bench-jobs``, ``just bench-me``) gets its servers here.
Either way a run gets a database of its own, migrated and seeded, and dropped at the end,
so that a configured database is never filled with a million benchmark users.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import redis.asyncio
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from bench import packages
from tests.support.servers import throwaway_postgres, throwaway_rabbitmq, throwaway_redis


def configured(variable: str, *schemes: str) -> str | None:
    """The server ``variable`` names, if it names one of these schemes."""
    value = os.environ.get(variable, "")
    return value if value.startswith(schemes) else None


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A PostgreSQL server URL (the database in it is not used: see :func:`fresh_database`)."""
    if url := configured("DATABASE_URL", "postgresql"):
        yield url
        return
    with throwaway_postgres() as server:
        yield server.url


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    if url := configured("REDIS_URL", "redis://", "rediss://"):
        yield url
        return
    packages.ensure("redis-server", "redis-server")
    with throwaway_redis() as server:
        yield server.url


@contextlib.contextmanager
def rabbitmq() -> Iterator[str]:
    """A RabbitMQ URL; a configured broker (vhost) must be the bench's alone: ``app.inbound`` is purged."""
    if url := configured("BROKER_URL", "amqp://", "amqps://"):
        yield url
        return
    packages.ensure("rabbitmq-server", "rabbitmq-server")
    with throwaway_rabbitmq() as server:
        yield server.url


@contextlib.contextmanager
def backing_servers() -> Iterator[tuple[str, str]]:
    """The PostgreSQL server URL and Redis URL: configured, or throwaway for this run."""
    with postgres() as postgres_url, redis_server() as redis_url:
        yield postgres_url, redis_url


def other_redis_database(url: str) -> str:
    """The same Redis server, another logical database: for work that must not mix with the service's keys."""
    parts = urlsplit(url)
    current = int(parts.path.strip("/") or "0")
    return urlunsplit(parts._replace(path=f"/{2 if current == 1 else 1}"))


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new database on the server, migrated to head; dropped on exit, whatever happened."""
    server = make_url(server_url)
    name = f"bench_{secrets.token_hex(4)}"
    asyncio.run(_execute(server_url, f'CREATE DATABASE "{name}"'))
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        config = Config("alembic.ini")
        config.attributes["database_url"] = url
        config.attributes["configure_logger"] = False
        command.upgrade(config, "head")
        yield url
    finally:
        asyncio.run(_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _execute(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn(server_url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def dsn(url: str) -> str:
    """asyncpg's form of a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def postgres_version(database_url: str) -> str:
    """The server's own version string, for the record of a run (as are the two below)."""
    connection = await asyncpg.connect(dsn(database_url))
    try:
        return f"PostgreSQL {await connection.fetchval('SHOW server_version')}"
    finally:
        await connection.close()


async def redis_version(redis_url: str) -> str:
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
    try:
        info = await client.info("server")
    finally:
        await client.aclose()
    return f"Redis {info['redis_version']}"


async def rabbitmq_version(broker_url: str) -> str:
    connection = await aio_pika.connect(broker_url, timeout=10)
    try:
        properties = connection.transport.connection.server_properties if connection.transport else {}
    finally:
        await connection.close()
    version = properties.get("version", b"?")
    return f"RabbitMQ {version.decode() if isinstance(version, bytes) else version}"
