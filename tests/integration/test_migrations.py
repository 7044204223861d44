"""Migrations: an empty database goes to head, back to base and up again, and matches the models."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic import command
from alembic.util.exc import CommandError
from sqlalchemy.engine import make_url

from tests.conftest import alembic_config


@pytest.fixture
async def empty_database(postgres_server_url: str) -> AsyncIterator[str]:
    server = make_url(postgres_server_url)
    name = f"app_migrations_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(server.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


async def tables(url: str) -> set[str]:
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    return {row["tablename"] for row in rows}


async def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    config = alembic_config(empty_database)

    await asyncio.to_thread(command.upgrade, config, "head")
    assert {"users", "sessions", "refresh_tokens"} <= await tables(empty_database)

    await asyncio.to_thread(command.downgrade, config, "base")
    assert await tables(empty_database) == {"alembic_version"}

    await asyncio.to_thread(command.upgrade, config, "head")
    assert {"users", "sessions", "refresh_tokens"} <= await tables(empty_database)


async def test_models_and_migrations_agree(empty_database: str) -> None:
    """``alembic check`` fails when a model change has no migration."""
    config = alembic_config(empty_database)
    await asyncio.to_thread(command.upgrade, config, "head")
    try:
        await asyncio.to_thread(command.check, config)
    except CommandError as exc:  # pragma: no cover - the message is the useful part
        pytest.fail(f"models and migrations differ: {exc}")
