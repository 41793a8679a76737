"""Alembic environment of the database sink, for the application and the command-line tool."""

from __future__ import annotations

import asyncio
import logging
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from streams.sinks.database.config import DatabaseSettings, mask_url, normalize_database_url
from streams.sinks.database.engine import create_database_engine
from streams.sinks.database.models import metadata

logger = logging.getLogger("streams.sinks.database.migrations")

config = context.config

# A caller inside the application passes an open connection in `attributes`. Only the
# command-line tool configures logging from alembic.ini and opens its own engine.
provided_connection: Connection | None = config.attributes.get("connection")


def database_url() -> str:
    """Return the URL from `-x url=...`, then `sqlalchemy.url`, then DATABASE_URL."""
    cli_url = context.get_x_argument(as_dictionary=True).get("url")
    if cli_url:
        return normalize_database_url(cli_url, variable="-x url")

    configured = config.get_main_option("sqlalchemy.url")
    if configured:
        return normalize_database_url(configured, variable="sqlalchemy.url")

    return DatabaseSettings.from_env().url


def run_on_connection(connection: Connection) -> None:
    """Run the pending migrations on an open synchronous connection."""
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_with_own_engine(url: str) -> None:
    """Open an async engine for the command-line tool and migrate through it."""
    engine = create_database_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_on_connection)
    finally:
        await engine.dispose()


def run_offline() -> None:
    """Emit the migration SQL to standard output without connecting."""
    context.configure(
        url=database_url(),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif provided_connection is not None:
    run_on_connection(provided_connection)
else:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    url = database_url()
    logger.info("migrating %s", mask_url(url))
    asyncio.run(run_with_own_engine(url))
