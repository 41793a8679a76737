"""Creation of the async SQLAlchemy engine for PostgreSQL (asyncpg) or SQLite (aiosqlite)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

logger = logging.getLogger(__name__)

# Seconds a SQLite connection waits for another writer's lock before it fails.
SQLITE_BUSY_TIMEOUT = 30.0

# Seconds asyncpg waits for a PostgreSQL connection to open.
POSTGRESQL_CONNECT_TIMEOUT = 10.0


def create_database_engine(url: str, pool_size: int = 5) -> AsyncEngine:
    """Create an engine for a normalized URL (see `config.normalize_database_url`)."""
    parsed = make_url(url)
    options: dict[str, Any] = {"pool_pre_ping": True}

    if parsed.get_backend_name() == "sqlite":
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT}
        engine = create_async_engine(parsed, **options)
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        return engine

    connect_args: dict[str, Any] = {"timeout": POSTGRESQL_CONNECT_TIMEOUT}

    # `search_path` is this project's URL parameter, not asyncpg's: it selects the schema.
    search_path = parsed.query.get("search_path")
    if search_path:
        connect_args["server_settings"] = {"search_path": str(search_path)}
        parsed = parsed.difference_update_query(["search_path"])

    options["connect_args"] = connect_args
    options["pool_size"] = pool_size
    return create_async_engine(parsed, **options)


def _configure_sqlite_connection(dbapi_connection: Any, connection_record: Any) -> None:
    """Enforce foreign keys and let readers work beside a writer (write-ahead log)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()
