"""PostgreSQL and Redis for a benchmark run: the configured ones, else throwaway servers.

``DATABASE_URL`` (a PostgreSQL URL) and ``REDIS_URL`` name existing servers; when unset,
the test suite's throwaway servers are started and removed afterwards (redis-server is
installed first if missing; PostgreSQL's server is expected on the machine). Either way
the run gets a database of its own, migrated and seeded, and dropped at the end, so that
a configured database is never filled with a million benchmark users.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator

import asyncpg
import redis.asyncio
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from bench import packages
from tests.support.servers import throwaway_postgres, throwaway_redis


@contextlib.contextmanager
def backing_servers() -> Iterator[tuple[str, str]]:
    """The PostgreSQL server URL and Redis URL: configured, or throwaway for this run."""
    with contextlib.ExitStack() as stack:
        yield _postgres(stack), _redis(stack)


def _postgres(stack: contextlib.ExitStack) -> str:
    configured = os.environ.get("DATABASE_URL", "")
    return configured if configured.startswith("postgresql") else stack.enter_context(throwaway_postgres()).url


def _redis(stack: contextlib.ExitStack) -> str:
    configured = os.environ.get("REDIS_URL", "")
    if configured.startswith(("redis://", "rediss://")):
        return configured
    packages.ensure("redis-server", "redis-server")
    return stack.enter_context(throwaway_redis()).url


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
    connection = await asyncpg.connect(_dsn(server_url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _dsn(url: str) -> str:
    """asyncpg's form of a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def versions(database_url: str, redis_url: str) -> tuple[str, str]:
    """The servers' own version strings, for the record of the run."""
    connection = await asyncpg.connect(_dsn(database_url))
    try:
        postgres = str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()
    client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=5)
    try:
        info = await client.info("server")
    finally:
        await client.aclose()
    return f"PostgreSQL {postgres}", f"Redis {info['redis_version']}"
