"""The database engine: one pool per process, bounded waits everywhere, and a pool that heals.

Every wait on PostgreSQL (connecting, checking a connection out of the pool, running a
statement) is bounded by ``DATABASE_TIMEOUT_SECONDS``, so that a database outage turns into
a fast 503 instead of requests piling up, and a hung (frozen) server as fast as a stopped
one. A connection whose statement ran out of time is dropped, not rolled back (see
``_drop_on_timeout``), so that nothing waits on it again. A pooled connection the server
closed (a restart) is replaced when it is checked out (``_replace_closed``), so that no work
fails on a stale connection once the server is back.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.ext import asyncio as sqlalchemy_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.ext.asyncio import AsyncSession as SqlSession
from sqlalchemy.pool import ConnectionPoolEntry

from app.infrastructure.config import Settings
from app.infrastructure.db.pool_metrics import MeasuredPool
from app.infrastructure.db.tenancy import ScopedSession


def create_engine(settings: Settings) -> AsyncEngine:
    """The process's engine; made through its module, which tracing instruments (every statement a span)."""
    url = make_url(settings.database_url)
    timeout = settings.database_timeout_seconds
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sqlalchemy_asyncio.create_async_engine(url, connect_args={"timeout": timeout}, pool_timeout=timeout)
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    connect_args: dict[str, Any] = {
        "timeout": timeout,
        # Each statement too: the client cannot tell a slow statement from a frozen server,
        # and the 503 promise covers requests caught mid-statement. The service's slowest
        # statements (a listing's total, a bulk insert of 1,000 rows) take well under a second.
        "command_timeout": timeout,
        # Listings' shape and selectivity come from the client, so a plan cached for one set of
        # values can be ruinous for the next (a rare ``email__ilike`` planned as a full backward
        # index scan: 1 s instead of 30 ms). Set for the session when it connects, it costs no
        # round trip per page, where ``SET LOCAL`` cost one; the service's other statements
        # are planned each time too, which for their point lookups and inserts takes tens of µs.
        "server_settings": {"application_name": "app", "plan_cache_mode": "force_custom_plan"},
    }
    engine = sqlalchemy_asyncio.create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_timeout=timeout,
        pool_recycle=1800,
        connect_args=connect_args,
        poolclass=MeasuredPool,  # counts the waiters for app_db_pool_waiting
    )
    event.listen(engine.sync_engine, "handle_error", _drop_on_timeout)
    event.listen(engine.sync_engine.pool, "checkout", _replace_closed)
    return engine


def _drop_on_timeout(context: ExceptionContext) -> None:
    """A statement that ran out of time (asyncpg's ``command_timeout``) leaves its connection unusable.

    asyncpg raises a bare ``TimeoutError``, which SQLAlchemy would treat as any error and
    roll back over the same connection: a second wait as long as the first on a hung
    server, and a connection still busy with the cancelled statement. Calling it a
    disconnect drops the connection (its socket is closed at once; the server ends the
    statement when it notices), so the answer stays within one timeout.
    """
    if not isinstance(context.original_exception, TimeoutError):
        return
    context.is_disconnect = True
    # Only this one: a statement merely slower than the bound must not cost every other
    # connection its place (on a hung server, each times out on its own anyway).
    context.invalidate_pool_on_disconnect = False
    connection = context.connection
    driver = None if connection is None or connection.invalidated else connection.connection.driver_connection
    if driver is not None:
        # Closed here, at once: invalidating would first try a graceful close, which waits
        # (up to 2 s, SQLAlchemy's own bound) for the very server that stopped answering.
        driver.terminate()


def _replace_closed(dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Refuse a pooled connection the server has closed, so that the pool connects afresh.

    After a restart of PostgreSQL every pooled connection is dead, and asyncpg knows it (it
    saw the socket close): checking that costs no round trip, unlike a pre-ping. Raising
    ``InvalidatePoolError`` makes SQLAlchemy drop every connection pooled before this one
    and hand out a new one instead, so the work that checked it out never sees the stale one.
    """
    if dbapi_connection.driver_connection.is_closed():
        raise sa_exc.InvalidatePoolError("the server closed this pooled connection")


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys are off by default in SQLite; WAL lets readers proceed during a write."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[SqlSession]:
    # expire_on_commit=False: entities are converted before commit, nothing lazy-loads after.
    # ScopedSession: a unit of work confined to an organization stays confined (``tenancy``).
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, sync_session_class=ScopedSession)


async def ping(engine: AsyncEngine, timeout: float) -> None:  # noqa: ASYNC109 - a probe sets its own bound
    """One trivial round trip, failing within ``timeout`` seconds."""
    async with asyncio.timeout(timeout), engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
