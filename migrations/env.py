"""Alembic environment: runs migrations on the service's own async engine and settings."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from app.infrastructure.config import load_settings_or_exit
from app.infrastructure.db.engine import create_engine
from app.infrastructure.db.models import UserModel
from app.infrastructure.db.organizations import models as organization_models  # noqa: F401 - joins the metadata
from app.infrastructure.db.tasks import models as task_models  # noqa: F401 - joins the metadata
from app.infrastructure.outbox import model as outbox_model  # noqa: F401 - the outbox table joins the metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = UserModel.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=connection.dialect.name != "sqlite",  # SQLite reflects UUIDs as NUMERIC
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead,
        # which is what keeps one set of migrations valid on both databases.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    url = config.attributes.get("database_url")
    settings = load_settings_or_exit({"DATABASE_URL": url} if url else None)
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run against a database.")
asyncio.run(_run_online())
