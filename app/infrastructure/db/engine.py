"""The database engine: one pool per process, bounded waits everywhere.

Every wait (connecting, checking a connection out of the pool, running a statement) has a
limit, so that a database outage turns into a fast 503 instead of requests piling up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as SqlSession

from app.infrastructure.config import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    url = make_url(settings.database_url)
    timeout = settings.database_timeout_seconds
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": timeout}, pool_timeout=timeout)
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    connect_args: dict[str, Any] = {
        "timeout": timeout,
        # Statements get more room than connecting, but never unbounded.
        "command_timeout": timeout * 5,
        "server_settings": {"application_name": "app"},
    }
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_timeout=timeout,
        pool_recycle=1800,
        connect_args=connect_args,
    )


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys are off by default in SQLite; WAL lets readers proceed during a write."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[SqlSession]:
    # expire_on_commit=False: entities are converted before commit, nothing lazy-loads after.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def ping(engine: AsyncEngine, timeout: float) -> None:  # noqa: ASYNC109 - a probe sets its own bound
    """One trivial round trip, failing within ``timeout`` seconds."""
    async with asyncio.timeout(timeout), engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
