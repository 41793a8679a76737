"""Read helpers over the ingestion database, for the query command and tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from streams.sinks.database.models import (
    ALL_TABLES,
    commit,
    job,
    job_log,
    push,
    repository,
    taskcluster_metadata,
)

# Columns of `job` that the helpers return, in table order, without the internal ids.
JOB_COLUMNS = tuple(
    column for column in job.columns if column.name not in {"id", "repository_id", "push_id"}
)


async def pushes_of_repository(
    source: AsyncEngine | AsyncConnection, repository_name: str, limit: int = 10
) -> list[dict[str, Any]]:
    """Return the newest pushes of a repository with their commit and job counts."""
    commit_counts = (
        select(commit.c.push_id, func.count().label("commit_count"))
        .group_by(commit.c.push_id)
        .subquery()
    )
    job_counts = (
        select(job.c.push_id, func.count().label("job_count"))
        .group_by(job.c.push_id)
        .subquery()
    )

    query = (
        select(
            repository.c.name.label("repository"),
            push.c.revision,
            push.c.author,
            push.c.push_timestamp,
            push.c.branch,
            push.c.enriched,
            push.c.kind,
            func.coalesce(commit_counts.c.commit_count, 0).label("commit_count"),
            func.coalesce(job_counts.c.job_count, 0).label("job_count"),
        )
        .join(repository, repository.c.id == push.c.repository_id)
        .outerjoin(commit_counts, commit_counts.c.push_id == push.c.id)
        .outerjoin(job_counts, job_counts.c.push_id == push.c.id)
        .where(repository.c.name == repository_name)
        .order_by(push.c.push_timestamp.desc(), push.c.id.desc())
        .limit(limit)
    )

    async with _connection(source) as connection:
        result = await connection.execute(query)
        return [dict(row._mapping) for row in result]


async def jobs_of_push(
    source: AsyncEngine | AsyncConnection, repository_name: str, revision: str
) -> list[dict[str, Any]]:
    """Return the jobs of one push, ordered by guid."""
    query = (
        select(*JOB_COLUMNS)
        .join(push, push.c.id == job.c.push_id)
        .join(repository, repository.c.id == push.c.repository_id)
        .where(repository.c.name == repository_name, push.c.revision == revision)
        .order_by(job.c.guid)
    )

    async with _connection(source) as connection:
        result = await connection.execute(query)
        return [dict(row._mapping) for row in result]


async def job_by_guid(source: AsyncEngine | AsyncConnection, guid: str) -> dict[str, Any] | None:
    """Return one job with its push, logs and task metadata, or None when it is not stored."""
    query = (
        select(
            *JOB_COLUMNS,
            repository.c.name.label("repository"),
            push.c.revision.label("revision"),
            taskcluster_metadata.c.task_id,
            taskcluster_metadata.c.retry_id,
            job.c.id.label("job_id"),
        )
        .join(push, push.c.id == job.c.push_id)
        .join(repository, repository.c.id == job.c.repository_id)
        .outerjoin(taskcluster_metadata, taskcluster_metadata.c.job_id == job.c.id)
        .where(job.c.guid == guid)
    )

    async with _connection(source) as connection:
        row = (await connection.execute(query)).first()
        if row is None:
            return None

        found = dict(row._mapping)
        job_id = found.pop("job_id")
        logs = await connection.execute(
            select(job_log.c.name, job_log.c.url, job_log.c.parse_status)
            .where(job_log.c.job_id == job_id)
            .order_by(job_log.c.id)
        )
        found["logs"] = [dict(log._mapping) for log in logs]
        return found


async def table_counts(source: AsyncEngine | AsyncConnection) -> dict[str, int]:
    """Return the number of rows of each table."""
    counts: dict[str, int] = {}
    async with _connection(source) as connection:
        for table in ALL_TABLES:
            counts[table.name] = (
                await connection.execute(select(func.count()).select_from(table))
            ).scalar_one()
    return counts


@asynccontextmanager
async def _connection(source: AsyncEngine | AsyncConnection) -> AsyncIterator[AsyncConnection]:
    if isinstance(source, AsyncConnection):
        yield source
        return
    async with source.connect() as connection:
        yield connection
