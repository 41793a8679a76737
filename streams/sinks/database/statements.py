"""Upsert statements of the sink, built for the PostgreSQL or SQLite dialect."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, case, not_, or_, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert, ReturningInsert

from streams.sinks.database.models import (
    commit,
    job,
    job_log,
    push,
    repository,
    taskcluster_metadata,
)

# Rank of each job state. A stored state is only replaced by one of equal or higher rank.
STATE_RANKS = {"unscheduled": 0, "pending": 1, "running": 2, "completed": 3}
COMPLETED = "completed"

# Columns of `job` that an applied event overwrites (all but `id` and `guid`).
JOB_UPDATED_COLUMNS = tuple(
    column.name for column in job.columns if column.name not in {"id", "guid"}
)


# First key of the PostgreSQL advisory locks that the sink takes per job guid ("pj" in ASCII),
# so that they do not collide with advisory locks that other code takes with one key.
JOB_GUID_LOCK_SPACE = 0x706A

# Take a transaction-scoped advisory lock on each guid of the array parameter `guids`, in
# the order of the hashed keys, so that two sink transactions take their common locks in the
# same order. Two guids with the same hash share a lock, which only serializes their writers.
# NOTE: each guid holds one slot of PostgreSQL's lock table until the commit, so a
# JOIN_BATCH_SIZE far above the default of 500 may need a larger max_locks_per_transaction.
JOB_GUID_LOCKS = text(
    "SELECT pg_advisory_xact_lock(:space, keys.key) FROM "
    "(SELECT DISTINCT hashtext(guid) AS key FROM unnest(CAST(:guids AS text[])) AS guid "
    "ORDER BY key) AS keys"
).bindparams(space=JOB_GUID_LOCK_SPACE)


def dialect_insert(table: Table, dialect_name: str) -> Any:
    """Return the dialect's INSERT construct, which offers ON CONFLICT clauses."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database dialect {dialect_name!r}")


def state_rank(state: ColumnElement[Any]) -> ColumnElement[int]:
    """Return a CASE expression that maps a state column to its rank (unknown states: -1)."""
    return case(STATE_RANKS, value=state, else_=-1)


# The statement builders below are cached per dialect. SQLAlchemy 2 memoizes the cache key
# of a statement object (`MemoizedHasCacheKey`), so executing the same object again skips
# building the statement and computing its key before the compiled-statement cache lookup.
@cache
def repository_upsert(dialect_name: str) -> Insert:
    """Insert repositories, updating every field of an existing name."""
    statement = dialect_insert(repository, dialect_name)
    return statement.on_conflict_do_update(
        index_elements=[repository.c.name],
        set_={
            name: statement.excluded[name]
            for name in ("url", "dvcs_type", "active", "tc_root_url")
        },
    )


@cache
def push_upsert(dialect_name: str) -> ReturningInsert[Any]:
    """Insert pushes or update them on (repository_id, revision), returning their ids.

    `enriched` never goes back to false, and an un-enriched copy that arrives after an
    enriched one keeps the stored author and push time, so a late copy of the message
    cannot replace what the commit lookup found. The push time changes only when an
    enriched copy replaces an un-enriched row: a repeated un-enriched copy, whose time may
    be the bridge's receive time, keeps the time first stored.
    """
    statement = dialect_insert(push, dialect_name)
    excluded = statement.excluded
    keep_stored = and_(push.c.enriched, not_(excluded.enriched))
    newly_enriched = and_(excluded.enriched, not_(push.c.enriched))
    return statement.on_conflict_do_update(
        index_elements=[push.c.repository_id, push.c.revision],
        set_={
            "author": case((keep_stored, push.c.author), else_=excluded.author),
            "push_timestamp": case(
                (newly_enriched, excluded.push_timestamp), else_=push.c.push_timestamp
            ),
            "branch": excluded.branch,
            "kind": excluded.kind,
            "enriched": or_(push.c.enriched, excluded.enriched),
            "last_modified": excluded.last_modified,
        },
    ).returning(push.c.id, push.c.repository_id, push.c.revision)


@cache
def commit_upsert(dialect_name: str) -> Insert:
    """Insert commits or update author and comment on (push_id, revision)."""
    statement = dialect_insert(commit, dialect_name)
    return statement.on_conflict_do_update(
        index_elements=[commit.c.push_id, commit.c.revision],
        set_={"author": statement.excluded.author, "comment": statement.excluded.comment},
    )


@cache
def job_upsert(dialect_name: str) -> ReturningInsert[Any]:
    """Insert jobs or apply an event to an existing guid, returning the rows it wrote.

    The WHERE clause of the update is the job-state rule: the stored state is not
    `completed` and the incoming state ranks at least as high. The database evaluates it
    on the locked, current row, so concurrent writers cannot move a job backward. Rows
    skipped by the rule are not returned.
    """
    statement = dialect_insert(job, dialect_name)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[job.c.guid],
        set_={name: excluded[name] for name in JOB_UPDATED_COLUMNS},
        where=and_(
            job.c.state != COMPLETED,
            state_rank(excluded.state) >= state_rank(job.c.state),
        ),
    ).returning(job.c.id, job.c.guid)


@cache
def job_log_insert_or_ignore(dialect_name: str) -> ReturningInsert[Any]:
    """Insert job logs, skipping an existing (job_id, name, url), and return the new ids."""
    statement = dialect_insert(job_log, dialect_name)
    return statement.on_conflict_do_nothing(
        index_elements=[job_log.c.job_id, job_log.c.name, job_log.c.url]
    ).returning(job_log.c.id)


@cache
def taskcluster_insert_or_ignore(dialect_name: str) -> ReturningInsert[Any]:
    """Insert task metadata, keeping the first row written for a job, and return new job ids."""
    statement = dialect_insert(taskcluster_metadata, dialect_name)
    return statement.on_conflict_do_nothing(
        index_elements=[taskcluster_metadata.c.job_id]
    ).returning(taskcluster_metadata.c.job_id)
