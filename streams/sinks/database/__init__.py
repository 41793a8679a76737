"""Database sink: SQLAlchemy Core tables, Alembic migrations and the idempotent writer."""

from streams.sinks.database.config import DatabaseSettings
from streams.sinks.database.errors import (
    DatabaseUnavailableError,
    InvalidRecordError,
    MissingPushError,
    UnknownRepositoryError,
)
from streams.sinks.database.migrate import migrate, upgrade_database
from streams.sinks.database.writer import DatabaseSink

__all__ = [
    "DatabaseSettings",
    "DatabaseSink",
    "DatabaseUnavailableError",
    "InvalidRecordError",
    "MissingPushError",
    "UnknownRepositoryError",
    "migrate",
    "upgrade_database",
]
