"""Programmatic Alembic upgrade to head, safe to run on every worker start and concurrently."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from streams.sinks.database.config import mask_url
from streams.sinks.database.engine import create_database_engine
from streams.sinks.database.errors import wrap_database_errors

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Key of the PostgreSQL advisory lock that serializes upgrades of one database
# (the ASCII bytes of "pulsemig" read as a signed 64-bit integer).
ADVISORY_LOCK_KEY = int.from_bytes(b"pulsemig", "big", signed=True)


def alembic_config() -> Config:
    """Build the Alembic configuration from the alembic.ini inside the package."""
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """Return the newest revision of the migration scripts."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration scripts found in {MIGRATIONS_DIR / 'versions'}")
    return head


async def current_revision(connection: AsyncConnection) -> str | None:
    """Return the revision a database is at, or None before the first migration."""
    return await connection.run_sync(
        lambda sync_connection: MigrationContext.configure(sync_connection).get_current_revision()
    )


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade the engine's database to head inside one transaction.

    On PostgreSQL a transaction-scoped advisory lock makes a second caller wait until the
    first one commits, so it finds the database at head and does nothing. On SQLite
    `BEGIN IMMEDIATE` takes the database write lock for the same effect.
    """
    async with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            await connection.begin()
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            )

        before = await current_revision(connection)
        await connection.run_sync(_upgrade_to_head)
        after = await current_revision(connection)
        await connection.commit()

    if before == after:
        logger.info("database %s already at revision %s", mask_url(engine.url), after)
    else:
        logger.info("database %s upgraded from %s to %s", mask_url(engine.url), before, after)


async def upgrade_database(url: str) -> None:
    """Bring the database at `url` to the newest revision, creating a SQLite file's folder.

    Raises RetriableError when the database cannot be reached.
    """
    _create_sqlite_folder(url)

    engine = create_database_engine(url, pool_size=1)
    try:
        with wrap_database_errors(url, "upgrade"):
            await migrate(engine)
    finally:
        await engine.dispose()


def _upgrade_to_head(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _create_sqlite_folder(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    if parsed.database == ":memory:":
        return
    Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
