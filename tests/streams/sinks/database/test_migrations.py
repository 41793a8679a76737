"""Tests of the Alembic migrations and the programmatic upgrade."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from streams.sinks.database.engine import create_database_engine
from streams.sinks.database.migrate import current_revision, head_revision, upgrade_database
from streams.sinks.database.models import metadata


async def revision_of(url: str) -> str | None:
    engine = create_database_engine(url)
    try:
        async with engine.connect() as connection:
            return await current_revision(connection)
    finally:
        await engine.dispose()


async def test_upgrade_reaches_head(database_url: str) -> None:
    await upgrade_database(database_url)

    assert await revision_of(database_url) == head_revision()


async def test_schema_matches_models(migrated_url: str) -> None:
    engine = create_database_engine(migrated_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync_connection: compare_metadata(
                    MigrationContext.configure(sync_connection, opts={"compare_type": True}),
                    metadata,
                )
            )
    finally:
        await engine.dispose()

    assert differences == []


async def test_upgrade_twice_is_noop(migrated_url: str) -> None:
    await upgrade_database(migrated_url)

    assert await revision_of(migrated_url) == head_revision()


async def test_concurrent_upgrades(database_url: str) -> None:
    await asyncio.gather(upgrade_database(database_url), upgrade_database(database_url))

    assert await revision_of(database_url) == head_revision()


async def test_upgrade_creates_sqlite_folder(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "folder" / "ingest.db"

    await upgrade_database(f"sqlite+aiosqlite:///{path}")

    assert path.exists()
