"""DatabaseSink: the service that writes repositories, pushes and jobs in idempotent batches."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections import Counter as Tally
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from streams.agents.ownership import CHECK_INTERVAL, check_owned
from streams.errors import RetriableError
from streams.sinks.database import statements
from streams.sinks.database.backoff import backoff_delay
from streams.sinks.database.config import DatabaseSettings
from streams.sinks.database.engine import create_database_engine
from streams.sinks.database.errors import MissingPushError, UnknownRepositoryError, wrap_database_errors
from streams.sinks.database.metrics import database_metrics
from streams.sinks.database.models import job, push, repository
from streams.sinks.database.push_reads import select_pushes
from streams.sinks.database.records import JobRecord, PushRecord, RepositoryEntry, StoredJob, StoredJobs
from streams.sinks.database.rows import (
    commit_rows,
    job_log_rows,
    job_row,
    push_row,
    repository_row,
    split_rounds,
    stored_guid,
    taskcluster_row,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Number of record ids a retry log line lists before it only counts the rest.
LOGGED_IDS = 5

# Maximum number of guids that one read of the stored job rows binds, below the limit of 999
# parameters per statement of SQLite before 3.32.
STORED_STATE_CHUNK = 500


class DatabaseSink:
    """Service that writes records to the database, one transaction per call.

    Every write is idempotent: repositories are keyed by name, pushes by (repository,
    revision), commits by (push, revision), jobs by guid and logs by (job, name, url). A
    connection or transient database failure raises RetriableError; `write_with_retry`
    retries it until the write succeeds or the sink stops.
    """

    def __init__(
        self, settings: DatabaseSettings, registry: CollectorRegistry | None = None
    ) -> None:
        self.settings = settings
        self.metrics = database_metrics(registry)
        self._engine: AsyncEngine | None = None
        self._stopping = asyncio.Event()

    @property
    def engine(self) -> AsyncEngine:
        """The engine of a started sink."""
        if self._engine is None:
            raise RuntimeError("DatabaseSink is not started; call `await sink.start()` first")
        return self._engine

    async def start(self) -> None:
        """Create the connection pool. Connections open on the first write."""
        self._stopping.clear()
        if self._engine is None:
            self._engine = create_database_engine(self.settings.url, self.settings.pool_size)
        logger.info("database sink started on %s", self.settings.masked_url)

    async def stop(self) -> None:
        """End pending retries and close the pool's connections."""
        self._stopping.set()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
        logger.info("database sink stopped on %s", self.settings.masked_url)

    async def ensure_repositories(
        self, repositories: Iterable[RepositoryEntry | Mapping[str, Any]]
    ) -> None:
        """Insert or update repositories from registry entries, keyed by name."""
        rows = {row["name"]: row for row in map(repository_row, repositories)}
        if not rows:
            return

        ordered = [rows[name] for name in sorted(rows)]
        async with self._transaction("ensure_repositories") as (connection, written):
            upsert = statements.repository_upsert(connection.dialect.name)
            await connection.execute(upsert, ordered)
            written["repository"] += len(ordered)

        logger.debug("wrote %d repositories: %s", len(ordered), ", ".join(sorted(rows)))

    async def write_pushes(self, records: Sequence[PushRecord]) -> None:
        """Upsert pushes and, for enriched records, their commits.

        Raises UnknownRepositoryError (not retriable) when a repository is not stored, and
        InvalidRecordError when the database rejects a value.
        """
        if not records:
            return

        async with self._transaction("write_pushes") as (connection, written):
            await _upsert_pushes(connection, records, _utcnow(), written)

        logger.debug("wrote %d pushes: %s", len(records), _describe(records))

    async def write_jobs(self, records: Sequence[JobRecord]) -> StoredJobs:
        """Upsert jobs under the state rule, then their logs, task metadata and supersedes.

        Logs and task metadata are written only for jobs whose row this call inserted or
        updated. A job skipped by the state rule got them in the transaction that stored
        its current event. The guids that an inserted or updated record lists as superseded
        get result `superseded` and state `completed` unless they are completed already,
        because a completed job keeps its result. A record skipped by the state rule
        supersedes nothing, so a late event changes no row.

        Returns the row of each record's guid as the transaction found it before its
        upserts (None for a new guid); on PostgreSQL those rows stay locked until the commit.

        Raises MissingPushError (not retriable) when a push is not stored, and
        InvalidRecordError when the database rejects a value.
        """
        if not records:
            return {}

        async with self._transaction("write_jobs") as (connection, written):
            stored = await _upsert_jobs(connection, records, _utcnow(), written)

        logger.debug("wrote %d job events: %s", len(records), _describe(records))
        return stored

    async def write_batch(
        self, pushes: Sequence[PushRecord], jobs: Sequence[JobRecord]
    ) -> StoredJobs:
        """Upsert pushes, then jobs, in one transaction, as write_pushes and write_jobs do.

        Jobs may reference pushes of the same call. Any error rolls back the whole batch,
        and the errors are those of write_pushes and write_jobs. Returns the job rows found
        before the upserts, as write_jobs does.
        """
        if not pushes and not jobs:
            return {}

        now = _utcnow()
        stored: StoredJobs = {}
        async with self._transaction("write_batch") as (connection, written):
            if pushes:
                await _upsert_pushes(connection, pushes, now, written)
            if jobs:
                stored = await _upsert_jobs(connection, jobs, now, written)

        logger.debug(
            "wrote a batch of %d pushes (%s) and %d job events (%s)",
            len(pushes),
            _describe(pushes),
            len(jobs),
            _describe(jobs),
        )
        return stored

    async def find_pushes(
        self, keys: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], PushRecord]:
        """Read the stored pushes among (repository name, revision) ``keys`` in one query.

        Returns a push record for each key that has a row. Keys without a row are left out.
        A connection or transient failure raises RetriableError, as the writes do.
        """
        if not keys:
            return {}

        with wrap_database_errors(self.settings.url, "find_pushes"):
            async with self.engine.connect() as connection:
                found = await select_pushes(connection, keys)

        logger.debug("found %d of %d pushes looked up in the database", len(found), len(keys))
        return found

    async def write_with_retry(self, write: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Call `write(*args)` until it succeeds, backing off after each RetriableError.

        Retries go on forever; only `stop()` ends them, and then the last RetriableError
        is raised so the caller does not commit past the unwritten records. Inside an agent,
        OwnershipLost ends them too once a rebalance started (see
        ``streams.agents.ownership``), so a rebalance waits at most for the attempt in progress.
        """
        operation = getattr(write, "__name__", "write")
        attempt = 0

        while True:
            try:
                return await write(*args)
            except RetriableError as exc:
                batch = _describe_arguments(args)
                if self._stopping.is_set():
                    logger.warning(
                        "database %s of %s abandoned because the sink is stopping: %s",
                        operation,
                        batch,
                        exc,
                    )
                    raise

                attempt += 1
                delay = backoff_delay(
                    attempt, self.settings.retry_initial, self.settings.retry_max
                )
                self.metrics.retries.labels(operation).inc()
                logger.warning(
                    "database %s of %s failed on attempt %d, retrying in %.2f s: %s",
                    operation,
                    batch,
                    attempt,
                    delay,
                    exc,
                )

                if await self._wait_for_stop(delay, f"database {operation} of {batch}"):
                    logger.warning(
                        "database %s of %s abandoned because the sink is stopping",
                        operation,
                        batch,
                    )
                    raise

    async def _wait_for_stop(self, delay: float, context: str) -> bool:
        """Wait ``delay`` s; return True when the sink stops first.

        Raises OwnershipLost when the agent's events were taken away by a rebalance.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while True:
            check_owned(context)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=min(remaining, CHECK_INTERVAL))
            except TimeoutError:
                continue
            return True

    @asynccontextmanager
    async def _transaction(
        self, operation: str
    ) -> AsyncIterator[tuple[AsyncConnection, Tally[str]]]:
        """Run one write transaction, record its metrics on commit and wrap transient errors."""
        started = time.perf_counter()
        written: Tally[str] = Tally()

        with wrap_database_errors(self.settings.url, operation):
            async with self.engine.begin() as connection:
                if connection.dialect.name == "sqlite":
                    # Python's sqlite3 module (default transaction handling) opens a
                    # transaction only at the first INSERT, UPDATE or DELETE, so earlier reads
                    # would run outside it. BEGIN IMMEDIATE takes the write lock now, waiting
                    # up to the busy timeout for another writer.
                    await connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield connection, written

        self.metrics.batches.labels(operation).inc()
        self.metrics.write_seconds.labels(operation).observe(time.perf_counter() - started)
        for table, count in written.items():
            self.metrics.rows_written.labels(table).inc(count)


async def _upsert_pushes(
    connection: AsyncConnection,
    records: Sequence[PushRecord],
    now: datetime.datetime,
    written: Tally[str],
) -> None:
    """Upsert push rows and the commits of enriched records inside an open transaction."""
    dialect = connection.dialect.name
    names = {record["repository"] for record in records}
    repository_ids = await _repository_ids(connection, names)

    for batch in split_rounds(records, _push_key):
        batch.sort(key=_push_key)
        rows = [push_row(record, repository_ids[record["repository"]], now) for record in batch]
        result = await connection.execute(statements.push_upsert(dialect), rows)
        push_ids = {(row.repository_id, row.revision): row.id for row in result}
        written["push"] += len(push_ids)

        commits = _unique_rows(
            (
                row
                for record in batch
                if record.get("enriched")
                for row in commit_rows(
                    record,
                    push_ids[(repository_ids[record["repository"]], record["revision"])],
                )
            ),
            key=("push_id", "revision"),
        )
        if commits:
            await connection.execute(statements.commit_upsert(dialect), commits)
            written["commit"] += len(commits)


async def _upsert_jobs(
    connection: AsyncConnection,
    records: Sequence[JobRecord],
    now: datetime.datetime,
    written: Tally[str],
) -> StoredJobs:
    """Upsert job rows, their children and the supersedes inside an open transaction.

    Only records whose upsert applied complete the guids they list as superseded. Returns
    the rows of the records' guids as they were before the upserts.
    """
    dialect = connection.dialect.name
    push_ids = await _push_ids(connection, records)
    before = await _lock_stored_jobs(connection, sorted({stored_guid(record) for record in records}))

    superseded: set[str] = set()
    for batch in split_rounds(records, stored_guid):
        batch.sort(key=stored_guid)
        rows = [
            job_row(record, *push_ids[(record["repository"], record["revision"])], now)
            for record in batch
        ]
        result = await connection.execute(statements.job_upsert(dialect), rows)
        applied = {row.guid: row.id for row in result}
        written["job"] += len(applied)

        await _write_job_children(connection, batch, applied, written)
        for record in batch:
            if stored_guid(record) in applied:
                superseded.update(record.get("superseded", []))

    if superseded:
        written["job"] += await _supersede(connection, sorted(superseded), now)

    return {record["job"]["job_guid"]: before.get(stored_guid(record)) for record in records}


async def _lock_stored_jobs(connection: AsyncConnection, guids: Sequence[str]) -> dict[str, StoredJob]:
    """Read the state and result of the stored rows among ``guids`` (sorted), locking them.

    On PostgreSQL a row lock (FOR UPDATE) cannot cover a guid that has no row yet, so the
    transaction first takes an advisory lock per guid, which every sink transaction that
    writes jobs takes too. The rows are then locked in guid order, the order of the upserts,
    against other updates such as the supersedes. SQLite has no row locks, but a sink
    transaction there holds the database's write lock from its start (see `_transaction`).
    Either way no other writer changes these rows between this read and the upserts.
    """
    if connection.dialect.name == "postgresql":
        await connection.execute(statements.JOB_GUID_LOCKS, {"guids": list(guids)})

    found: dict[str, StoredJob] = {}
    for start in range(0, len(guids), STORED_STATE_CHUNK):
        chunk = guids[start : start + STORED_STATE_CHUNK]
        result = await connection.execute(
            select(job.c.guid, job.c.state, job.c.result)
            .where(job.c.guid.in_(chunk))
            .order_by(job.c.guid)
            .with_for_update()
        )
        found.update((row.guid, StoredJob(row.state, row.result)) for row in result)
    return found


async def _repository_ids(connection: AsyncConnection, names: set[str]) -> dict[str, int]:
    """Return the ids of the named repositories, raising UnknownRepositoryError for others."""
    result = await connection.execute(
        select(repository.c.name, repository.c.id).where(repository.c.name.in_(sorted(names)))
    )
    ids = {row.name: row.id for row in result}

    missing = names - ids.keys()
    if missing:
        raise UnknownRepositoryError(missing)
    return ids


async def _push_ids(
    connection: AsyncConnection, records: Sequence[JobRecord]
) -> dict[tuple[str, str], tuple[int, int]]:
    """Map each (repository, revision) of the jobs to (repository_id, push_id) in one query.

    Raises MissingPushError, listing every pair that has no stored push.
    """
    wanted = {(record["repository"], record["revision"]) for record in records}
    names = sorted({name for name, _ in wanted})
    revisions = sorted({revision for _, revision in wanted})

    result = await connection.execute(
        select(repository.c.name, push.c.revision, push.c.repository_id, push.c.id)
        .join(repository, repository.c.id == push.c.repository_id)
        .where(repository.c.name.in_(names), push.c.revision.in_(revisions))
    )
    found = {(row.name, row.revision): (row.repository_id, row.id) for row in result}

    missing = wanted - found.keys()
    if missing:
        raise MissingPushError(missing)
    return found


async def _write_job_children(
    connection: AsyncConnection,
    batch: Sequence[JobRecord],
    applied: Mapping[str, int],
    written: Tally[str],
) -> None:
    """Insert the logs and task metadata of the jobs in `applied` (guid to job id)."""
    dialect = connection.dialect.name
    applied_records = [record for record in batch if stored_guid(record) in applied]

    logs = _unique_rows(
        (
            row
            for record in applied_records
            for row in job_log_rows(record["job"], applied[stored_guid(record)])
        ),
        key=("job_id", "name", "url"),
    )
    if logs:
        result = await connection.execute(statements.job_log_insert_or_ignore(dialect), logs)
        written["job_log"] += len(result.all())

    metadata_rows = [
        row
        for record in applied_records
        if (row := taskcluster_row(record["job"], applied[stored_guid(record)])) is not None
    ]
    if metadata_rows:
        result = await connection.execute(
            statements.taskcluster_insert_or_ignore(dialect), metadata_rows
        )
        written["taskcluster_metadata"] += len(result.all())


async def _supersede(
    connection: AsyncConnection, guids: Sequence[str], now: datetime.datetime
) -> int:
    """Mark not-yet-completed jobs as completed with result `superseded` and return the count."""
    result = await connection.execute(
        update(job)
        .where(job.c.guid.in_(guids), job.c.state != statements.COMPLETED)
        .values(result="superseded", state=statements.COMPLETED, last_modified=now)
    )
    return max(result.rowcount, 0)


def _unique_rows(rows: Iterable[dict[str, Any]], key: tuple[str, ...]) -> list[dict[str, Any]]:
    """Keep the last row of each key, since one multi-row statement may not repeat a key."""
    unique = {tuple(row[name] for name in key): row for row in rows}
    return list(unique.values())


def _push_key(record: PushRecord) -> tuple[str, str]:
    return (record["repository"], record["revision"])


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _describe(records: Sequence[Mapping[str, Any]]) -> str:
    """List the ids of records: guids of jobs, repository/revision of pushes, repository names."""
    ids: list[str] = []
    for record in records:
        if "job" in record:
            ids.append(str(record["job"].get("job_guid")))
        elif "revision" in record:
            ids.append(f"{record.get('repository')}/{record['revision']}")
        else:
            ids.append(str(record.get("name", "?")))

    shown = ", ".join(ids[:LOGGED_IDS])
    if len(ids) > LOGGED_IDS:
        shown += f" and {len(ids) - LOGGED_IDS} more"
    return shown


def _describe_arguments(args: Sequence[Any]) -> str:
    parts = []
    for argument in args:
        if isinstance(argument, Sequence) and not isinstance(argument, str):
            records = [
                item if isinstance(item, Mapping) else {"name": getattr(item, "name", "?")}
                for item in argument
            ]
            parts.append(f"{len(argument)} records ({_describe(records)})")
        else:
            parts.append(repr(argument))
    return "; ".join(parts) or "no arguments"
