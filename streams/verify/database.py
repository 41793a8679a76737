"""Stored rows that the verifier compares with the topics: jobs by guid and pushes by key."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from streams.sinks.database.engine import create_database_engine
from streams.sinks.database.models import job, push, repository

logger = logging.getLogger(__name__)

# Keys per SELECT, to stay below the bind-parameter limits of PostgreSQL and SQLite.
CHUNK_SIZE = 500


@dataclass(frozen=True)
class StoredJob:
    """State and result of a stored job, and how many rows carry its guid."""

    state: str
    result: str
    rows: int


@dataclass
class StoredRows:
    """Rows found for the requested job guids and push keys."""

    jobs: dict[str, StoredJob] = field(default_factory=dict)

    # Row count of each `<repository>/<revision>` key that was found.
    pushes: dict[str, int] = field(default_factory=dict)


async def read_stored_rows(url: str, guids: Collection[str], push_keys: Collection[str]) -> StoredRows:
    """Read the job rows of ``guids`` and the push rows of ``push_keys`` (`<repository>/<revision>`)."""
    stored = StoredRows()
    engine = create_database_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            for chunk in _chunks(sorted(guids)):
                await _read_jobs(connection, chunk, stored)

            pairs = sorted(tuple(key.split("/", 1)) for key in push_keys if "/" in key)
            for chunk in _chunks(pairs):
                await _read_pushes(connection, chunk, stored)
    finally:
        await engine.dispose()

    logger.info("Found %d of %d jobs and %d of %d pushes", len(stored.jobs), len(guids), len(stored.pushes), len(push_keys))
    return stored


async def _read_jobs(connection: AsyncConnection, guids: list[str], stored: StoredRows) -> None:
    # Counting rows per guid catches duplicates even if the unique constraint were missing.
    query = (
        select(job.c.guid, func.count().label("rows"), func.max(job.c.state), func.max(job.c.result))
        .where(job.c.guid.in_(guids))
        .group_by(job.c.guid)
    )
    for guid, rows, state, result in await connection.execute(query):
        stored.jobs[guid] = StoredJob(state=state, result=result, rows=rows)


async def _read_pushes(connection: AsyncConnection, pairs: list[tuple[str, ...]], stored: StoredRows) -> None:
    query = (
        select(repository.c.name, push.c.revision, func.count())
        .join(repository, repository.c.id == push.c.repository_id)
        .where(tuple_(repository.c.name, push.c.revision).in_(pairs))
        .group_by(repository.c.name, push.c.revision)
    )
    for name, revision, rows in await connection.execute(query):
        stored.pushes[f"{name}/{revision}"] = rows


def _chunks(items: list, size: int = CHUNK_SIZE) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]
