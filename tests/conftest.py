"""Fixtures shared by the whole suite: a real, migrated PostgreSQL and the app on top of it.

PostgreSQL is the one named by ``DATABASE_URL`` when that is a PostgreSQL URL (the suite
creates and drops a database of its own there), else a throwaway server started here.
Redis likewise: ``REDIS_URL`` when it is a redis:// URL, else a throwaway server; and
RabbitMQ: ``BROKER_URL`` when it is an amqp:// URL, else a throwaway node. There is no
fallback: if one cannot be had, the suite fails. The SMTP server the job tests need is
always a private one, started in-process (``tests/support/smtp.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import graphlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import aio_pika
import asyncpg
import pytest
import redis.asyncio
from alembic import command
from alembic.config import Config
from httpx import ASGITransport, AsyncClient
from litestar import Litestar
from sqlalchemy import delete, text
from sqlalchemy import table as sql_table
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from app.bootstrap import Container, build_container
from app.infrastructure.config import Settings, load_settings
from app.interfaces.http.app import create_app
from tests.support.servers import (
    PostgresServer,
    RabbitServer,
    RedisServer,
    throwaway_postgres,
    throwaway_rabbitmq,
    throwaway_redis,
)
from tests.support.smtp import SmtpSink, smtp_sink
from tests.support.turns import turn


def alembic_config(database_url: str) -> Config:
    config = Config("alembic.ini")
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


def make_settings(database_url: str, **overrides: str) -> Settings:
    """Settings as a deployment would give them, with hashing made cheap for speed."""
    return load_settings(
        {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "1024",
            "PASSWORD_HASH_PARALLELISM": "1",
            "LOG_LEVEL": "WARNING",
            # The suite signs in far more often than a person; rate-limit tests set their own.
            "RATE_LIMIT_AUTH": "1000000/minute",
            **overrides,
        },
        env_file=None,
    )


@contextlib.asynccontextmanager
async def embedded_container(database_file: Path) -> AsyncIterator[Container]:
    """The service on a SQLite file migrated like a deployment's (embedded mode, ``just dev``), closed after."""
    database_url = f"sqlite+aiosqlite:///{database_file}"
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), "head")
    container = build_container(make_settings(database_url))
    try:
        yield container
    finally:
        await container.close()


@pytest.fixture(scope="session")
def _turns_dir(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """Where this run's test processes take turns (``tests/support/turns.py``); None when there is one process."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return None
    return tmp_path_factory.getbasetemp().parent  # Each process's own base is below the run's.


@pytest.fixture(autouse=True)
def _taking_turns(request: pytest.FixtureRequest, _turns_dir: Path | None) -> Iterator[None]:
    """Every test runs in a turn: beside the other processes' tests, or alone when marked ``alone``."""
    with turn(_turns_dir, alone=request.node.get_closest_marker("alone") is not None):
        yield


def _only_one_test_process(variable: str) -> None:
    """A server named by the settings is shared by every test process: their tests would take each other's work."""
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        raise RuntimeError(
            f"{variable} names a server that every test process would share, and their tests would read "
            "each other's jobs and messages: run the suite in one process (just test -n 0), or unset it "
            "for throwaway servers of each process's own"
        )


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """The suite's PostgreSQL server: ``DATABASE_URL`` when it is a PostgreSQL URL, else a throwaway.

    Shared by the whole session: never stop it. Outage tests use ``stoppable_postgres``.
    """
    configured = os.environ.get("DATABASE_URL", "")
    if configured.startswith("postgresql"):
        yield configured
    else:
        with throwaway_postgres() as server:
            yield server.url


@pytest.fixture(scope="session")
async def database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A fresh database on the server, migrated to head, dropped at the end."""
    server = make_url(postgres_server_url)
    name = f"app_test_{secrets.token_hex(4)}"
    admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        url = server.set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
        yield url
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


@pytest.fixture
async def stoppable_postgres() -> AsyncIterator[PostgresServer]:
    """A private throwaway PostgreSQL, migrated to head, that the test may ``stop()`` and ``start()``.

    Same port, URL and data after a restart, and crash-safe: what it acknowledged survives
    a ``stop()`` (a kill of every server process), so a test can look for it afterwards.
    """
    with throwaway_postgres(crash_safe=True) as server:
        await asyncio.to_thread(command.upgrade, alembic_config(server.url), "head")
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The suite's Redis server URL: ``REDIS_URL`` when it is a redis:// URL, else a throwaway.

    Shared by the whole session: never stop it. Outage tests use ``stoppable_redis``.
    """
    configured = os.environ.get("REDIS_URL", "")
    if configured.startswith(("redis://", "rediss://")):
        _only_one_test_process("REDIS_URL")
        yield configured
    else:
        with throwaway_redis() as server:
            yield server.url


@pytest.fixture(scope="session")
async def redis_url(redis_server: str) -> str:
    """The URL to give the app as ``REDIS_URL``, checked once: a server that does not answer fails loudly."""
    client = redis.asyncio.Redis.from_url(redis_server, socket_connect_timeout=5, socket_timeout=5)
    try:
        async with asyncio.timeout(10):
            await client.ping()
    except Exception as exc:
        where = urlsplit(redis_server)  # Named by host and port: the URL may carry a password.
        raise RuntimeError(f"the suite's Redis at {where.hostname}:{where.port} does not answer: {exc!r}") from exc
    finally:
        await client.aclose()
    return redis_server


@pytest.fixture
def stoppable_redis() -> Iterator[RedisServer]:
    """A private throwaway Redis the test may ``stop()`` and ``start()`` (same port, same URL)."""
    with throwaway_redis() as server:
        yield server


@pytest.fixture
def persistent_redis() -> Iterator[RedisServer]:
    """Like ``stoppable_redis``, with an append-only file as production has: its data survives a restart."""
    with throwaway_redis(persistent=True) as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A private SMTP server (aiosmtpd) that keeps what it accepts and can refuse or stall on demand."""
    with smtp_sink() as sink:
        yield sink


@pytest.fixture(scope="session")
def rabbit_server() -> Iterator[str]:
    """The suite's RabbitMQ URL: ``BROKER_URL`` when it is an amqp:// URL, else a throwaway node.

    Shared by the whole session: never stop it. Outage tests use ``stoppable_rabbitmq``.
    """
    configured = os.environ.get("BROKER_URL", "")
    if configured.startswith(("amqp://", "amqps://")):
        _only_one_test_process("BROKER_URL")
        yield configured
    else:
        with throwaway_rabbitmq() as server:
            yield server.url


@pytest.fixture(scope="session")
async def broker_url(rabbit_server: str) -> str:
    """The URL to give the app as ``BROKER_URL``, checked once: a server that does not answer fails loudly."""
    try:
        async with asyncio.timeout(10):
            connection = await aio_pika.connect(rabbit_server, timeout=5)
            await connection.close()
    except Exception as exc:
        where = urlsplit(rabbit_server)  # Named by host and port: the URL carries a password.
        raise RuntimeError(f"the suite's RabbitMQ at {where.hostname}:{where.port} does not answer: {exc!r}") from exc
    return rabbit_server


@pytest.fixture(scope="session")
def _rabbitmq_to_stop() -> Iterator[RabbitServer]:
    """The throwaway node that tests stopping or freezing RabbitMQ share: one boot, not one each."""
    with throwaway_rabbitmq() as server:
        yield server


@pytest.fixture
def stoppable_rabbitmq(_rabbitmq_to_stop: RabbitServer) -> RabbitServer:
    """A throwaway RabbitMQ node, running, that the test may ``stop()`` and ``start()``, ``pause()``
    and ``resume()`` (same port, URL and data).

    Not the suite's node. A node boots in seconds, so the tests that stop one share it: each
    gets it running and thawed, whatever the test before left, and keeps its messages in
    queues of its own naming, which no other test reads.
    """
    _rabbitmq_to_stop.resume()
    _rabbitmq_to_stop.start()
    return _rabbitmq_to_stop


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
async def container(settings: Settings) -> AsyncIterator[Container]:
    container = build_container(settings)
    yield container
    await container.close()


@pytest.fixture(scope="session")
def app(settings: Settings, container: Container) -> Litestar:
    return create_app(settings, container)


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncClient]:
    """An HTTP client calling the app in-process, on the test's own event loop.

    (Litestar's test client runs the app on a thread with its own loop; the database pool
    shared with the fixtures must stay on one loop.)
    """
    # httpx types its ASGI app narrower than Litestar's (wider) scope union; they are compatible.
    transport = ASGITransport(app=app)  # type: ignore[arg-type]
    async with AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        yield client


_TABLES_AND_REFERENCES = text(
    """
    SELECT tables.relname AS name, parents.relname AS parent
    FROM pg_class AS tables
    LEFT JOIN pg_constraint AS keys ON keys.conrelid = tables.oid AND keys.contype = 'f'
    LEFT JOIN pg_class AS parents ON parents.oid = keys.confrelid
    WHERE tables.relnamespace = current_schema()::regnamespace AND tables.relkind IN ('r', 'p')
      AND tables.relname <> 'alembic_version'
    """
)


@pytest.fixture(scope="session")
async def tables_children_first(container: Container) -> list[str]:
    """Every table of the migrated schema, each before the tables it references.

    Read from the catalogue, so a table a new migration adds is emptied too, and in an
    order that no foreign key refuses, whatever its ``ON DELETE``.
    """
    async with container.engine.connect() as connection:
        rows = (await connection.execute(_TABLES_AND_REFERENCES)).all()
    referenced_by: dict[str, set[str]] = {row.name: set() for row in rows}
    for row in rows:
        if row.parent is not None and row.parent != row.name:
            referenced_by[row.parent].add(row.name)
    return list(graphlib.TopologicalSorter(referenced_by).static_order())


@pytest.fixture
async def clean_database(container: Container, tables_children_first: list[str]) -> None:
    """Every database test starts from empty tables.

    ``DELETE`` rather than ``TRUNCATE``: the tables hold a test's few rows, which a delete
    removes in about a millisecond, while a truncate replaces every table's and index's
    files, 10 to 100 ms before each of some two thousand tests.
    """
    async with container.engine.begin() as connection:
        hidden = await _hidden_by_policies(connection)
        for table in tables_children_first:
            if table not in hidden:
                await connection.execute(delete(sql_table(table)))
                continue
            # Row-level security hides every row of a tenant-scoped table from a statement with no
            # organization, the owner's too (FORCE): unforced for this delete, in this transaction only.
            await connection.execute(text(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY"))
            await connection.execute(delete(sql_table(table)))
            await connection.execute(text(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY"))


_FORCED_POLICIES_UNLESS_BYPASSED = text(
    """
    SELECT c.relname FROM pg_class AS c
    WHERE c.relforcerowsecurity AND c.relnamespace = current_schema()::regnamespace
      AND NOT (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user)
    """
)


async def _hidden_by_policies(connection: AsyncConnection) -> set[str]:
    """Tables whose rows a plain ``DELETE`` by this user cannot see: none for a superuser (the
    throwaway server's), the tenant-scoped ones for the tables' owner (a ``DATABASE_URL`` given)."""
    return set((await connection.execute(_FORCED_POLICIES_UNLESS_BYPASSED)).scalars())


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A loopback port that accepts connections and never answers: a hung database, Redis or broker.

    Outage tests use it to prove that every wait on a dependency is bounded.
    """
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()
