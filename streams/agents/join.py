"""Join of jobs with their pushes: batches folded over the tables, written, sent, then stored."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from streams import metrics
from streams.agents.faults import is_infrastructure_error
from streams.agents.job_routing import RawJobRouter
from streams.agents.join_plan import (
    AppliedJob,
    BatchItem,
    Coordinates,
    DatabasePush,
    JoinPlan,
    JoinPlanner,
    Rejection,
    coordinates,
    database_jobs,
    push_key,
    split_behind_database,
)
from streams.agents.publish import OutgoingRecord, Publisher, encode_json
from streams.agents.source import SourceEvent
from streams.config import TopicNames
from streams.errors import RejectReason
from streams.sinks.database.records import StoredJob, StoredJobs
from streams.sinks.deadletter import DeadLetterSink, build_dead_letter_record
from streams.tables.definitions import JoinTables
from streams.tables.parked import ParkedJob, source_of, split_expired
from streams.tables.scope import event_scope

logger = logging.getLogger(__name__)

STAGE = "join"

# Number of push keys that a log line lists.
LOGGED_KEYS = 5

__all__ = ["STAGE", "BatchItem", "JoinDatabase", "JoinProcessor", "push_key"]


class JoinDatabase(Protocol):
    """Database writes of the join; each call returns once the rows are committed.

    Implementations retry infrastructure faults themselves and raise RejectedMessage (or
    another exception) only for records that can never be written.
    """

    async def write_batch(
        self, pushes: Sequence[dict[str, Any]], jobs: Sequence[dict[str, Any]]
    ) -> StoredJobs:
        """Upsert pushes, then jobs under the job-state rule, in one transaction.

        Returns each job guid's row as the transaction found it before the upserts, with
        None for a guid that had no row.
        """

    async def find_pushes(
        self, keys: Sequence[tuple[str, str]]
    ) -> Mapping[tuple[str, str], Mapping[str, Any]]:
        """Read the stored pushes among (repository, revision) ``keys`` in one query.

        Returns a push record, shaped like those of the push topic, for each key that has a
        row, and leaves out the others.
        """


@dataclass(frozen=True)
class _Unit:
    """One record of a batch write and the event to dead-letter if only it fails."""

    is_push: bool
    record: dict[str, Any]
    source: SourceEvent


class JoinProcessor:
    """Handles batches of the push, job, raw job and sweep topics; the join agent calls it per batch.

    Raw job events are transformed first by the router, which re-keys those that are not
    in their push's partition (see ``streams.agents.job_routing``). A batch is folded in event order into one database transaction and one round of
    accepted sends. Table changes are stored only after both are confirmed, so a batch
    interrupted at any point is handled again from the same tables. Handlers are
    idempotent because a batch is consumed again after a crash. The fold drops job events
    behind an earlier event of the same batch, and the database ignores those behind a
    stored row. A job event is sent only if it is not behind the row that the batch's
    transaction found, so neither a late event nor a replay sends a job's state after a
    later one.
    """

    def __init__(
        self,
        *,
        topics: TopicNames,
        tables: JoinTables,
        database: JoinDatabase,
        accepted_pushes: Publisher,
        accepted_jobs: Publisher,
        dead_letters: DeadLetterSink,
        parked_job_window: float,
        push_database_lookup: bool = True,
        router: RawJobRouter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._topics = topics
        self._tables = tables
        self._database = database
        self._accepted_pushes = accepted_pushes
        self._accepted_jobs = accepted_jobs
        self._dead_letters = dead_letters
        self._window = parked_job_window
        self._push_database_lookup = push_database_lookup
        # Transforms raw job events; None when the join reads no raw job topic.
        self._router = router
        self._clock = clock
        self._planner = JoinPlanner(topics, tables, clock)

    async def __call__(self, source: SourceEvent) -> None:
        """Handle one event as a batch of one."""
        await self.process_batch([BatchItem(source)])

    async def process_batch(self, items: Sequence[BatchItem]) -> None:
        """Handle ``items`` in order; sweep ticks split the batch into runs around them.

        Bad events are dead-lettered. An infrastructure fault of the database write or the
        sends escapes before any table change of the current run, and the caller handles
        the whole batch again after a backoff.
        """
        run: list[BatchItem] = []
        for item in items:
            if item.source.topic != self._topics.sweep:
                run.append(item)
                continue

            await self._process_run(run)
            run = []
            with event_scope(item.event):
                await self.sweep(item.source.partition)

        await self._process_run(run)

    async def _process_run(self, items: list[BatchItem]) -> None:
        if items and self._router is not None:
            routed = await self._router.route(items)
            await self._router.send(routed)
            items = routed.items

        if not items:
            return

        plan, stored = await self._write_database(items)
        await self._send_accepted(plan, stored)
        await self._send_rejections(plan.rejections)
        plan.commit_tables()
        _count(plan)

        logger.debug(
            "Joined %d events: %d pushes, %d job events accepted, %d dropped, %d behind the "
            "database, %d rejected",
            len(items),
            len(plan.push_sends),
            len(plan.jobs),
            plan.dropped,
            len(plan.behind),
            len(plan.rejections),
        )

    async def _write_database(self, items: list[BatchItem]) -> tuple[JoinPlan, StoredJobs]:
        """Plan the batch and write it; records the database rejects are left out and dead-lettered.

        After a rejection the batch is bisected to find the failing records, and planned
        again without their events, because leaving out a push or a job changes what the
        later events of the batch do. Pushes are left out first, since a rejected push
        also fails the jobs that reference it.

        Also returns each written guid's row from before the batch. The first committed
        transaction that wrote a guid read it, so later attempts, which read the batch's
        own writes, do not replace it.
        """
        excluded: dict[Coordinates, BaseException] = {}
        stored: dict[str, StoredJob | None] = {}
        plan = self._planner.plan(items, excluded)

        # The pushes found go into the plan's push overlay, so the push table changes only
        # once the batch is written and sent, like every other table change. Writing them
        # to the table at once would also be safe, since the database already stores them,
        # but one ordering rule for every table change is easier to check. The cost is that
        # a batch run again after a fault reads them again.
        database_pushes = await self._find_database_pushes(plan)
        if database_pushes:
            plan = self._planner.plan(items, excluded, database_pushes)

        while True:
            units = _units(plan)
            try:
                await self._write_units(units, stored)
                return plan, stored
            except Exception as error:
                if is_infrastructure_error(error):
                    raise
                logger.warning(
                    "Database write of a batch of %d records failed, looking for the rejected ones: %r",
                    len(units),
                    error,
                )

            failed = await self._find_rejected(units, stored)
            if not failed:
                # Each part was written on its own, so the batch as a whole is stored.
                return plan, stored

            pushes = [(unit, error) for unit, error in failed if unit.is_push]
            for unit, error in pushes or failed:
                excluded[coordinates(unit.source)] = error
                logger.warning(
                    "Database rejected the record of %s key=%s in %s: %r",
                    unit.source.position,
                    unit.source.key_text,
                    STAGE,
                    error,
                )
            plan = self._planner.plan(items, excluded, database_pushes)

    async def _find_database_pushes(self, plan: JoinPlan) -> dict[str, DatabasePush]:
        """Read from the database the pushes of the keys that the plan parked jobs under.

        One query covers the batch. Infrastructure faults propagate, so the batch is run
        again, as for a failed write.
        """
        unknown = plan.unknown_push_keys()
        if not self._push_database_lookup or not unknown:
            return {}

        keys = sorted(_split_push_key(key) for key in unknown)
        found = await self._database.find_pushes(keys)
        pushes: dict[str, DatabasePush] = {}
        for stored in found.values():
            record = dict(stored)
            key = push_key(record)
            if key in unknown:
                pushes[key] = DatabasePush(record, unknown[key])
        if pushes:
            logger.info(
                "Found %d of %d unknown pushes in the database, accepting their jobs: %s",
                len(pushes),
                len(unknown),
                ", ".join(sorted(pushes)[:LOGGED_KEYS]),
            )
        return pushes

    async def _write_units(self, units: list[_Unit], stored: dict[str, StoredJob | None]) -> None:
        """Write ``units`` in one transaction and add the rows it read to ``stored``."""
        pushes = [unit.record for unit in units if unit.is_push]
        jobs = [unit.record for unit in units if not unit.is_push]
        found = await self._database.write_batch(pushes, jobs)
        for guid, row in found.items():
            stored.setdefault(guid, row)

    async def _find_rejected(
        self, units: list[_Unit], stored: dict[str, StoredJob | None]
    ) -> list[tuple[_Unit, BaseException]]:
        """Write ``units`` in halves, left before right; return each single failing unit.

        Units list pushes before jobs, so every job is written after the batch's pushes
        that the earlier halves contain.
        """
        if not units:
            return []

        try:
            await self._write_units(units, stored)
            return []
        except Exception as error:
            if is_infrastructure_error(error):
                raise
            if len(units) == 1:
                return [(units[0], error)]

        middle = len(units) // 2
        left = await self._find_rejected(units[:middle], stored)
        return left + await self._find_rejected(units[middle:], stored)

    async def _send_accepted(self, plan: JoinPlan, stored: StoredJobs) -> None:
        """Send every accepted push and every job event not behind its stored row.

        All delivery reports are awaited together. A replayed push is sent again, because
        the push topic is keyed by push and its records carry no state to order them.
        """
        # NOTE: this orders sends after a crash. During a rebalance the old owner of a
        # partition may still be sending while the new owner writes and sends. The locks order
        # the two transactions, but a delayed send of the old owner can still reach the topic
        # after a later state that the new owner sent.
        plan.jobs, plan.behind = split_behind_database(plan.jobs, stored)
        for job in plan.behind:
            row = stored.get(job.guid)
            logger.debug(
                "Job %s event in state %s from %s is behind its stored row (%s, %s); not sent",
                job.guid,
                job.record["job"]["state"],
                job.source.position,
                row.state if row else None,
                row.result if row else None,
            )
        if plan.behind:
            first = plan.behind[0]
            logger.info(
                "Did not send %d job events behind their stored rows, the first job %s "
                "in state %s from %s",
                len(plan.behind),
                first.guid,
                first.record["job"]["state"],
                first.source.position,
            )

        push_records = [
            OutgoingRecord(write.key, write.record, write.source.position)
            for write in plan.push_sends
        ]
        job_records = [
            OutgoingRecord(job.guid, job.record, job.source.position) for job in plan.jobs
        ]
        push_results, job_results = await asyncio.gather(
            self._accepted_pushes.publish_many(push_records),
            self._accepted_jobs.publish_many(job_records),
        )

        # A record too large for its accepted topic is already in the database. Its event is
        # dead-lettered, and the tables are updated as for the other events.
        for write, error in zip(plan.push_sends, push_results):
            if error is not None:
                plan.rejections.append(Rejection(write.source, error))
        for job, error in zip(plan.jobs, job_results):
            if error is not None:
                plan.rejections.append(Rejection(job.source, error, _body(job)))

    async def _send_rejections(self, rejections: list[Rejection]) -> None:
        for rejection in rejections:
            source = rejection.source
            logger.info(
                "Rejected %s key=%s in %s: %r",
                source.position,
                source.key_text,
                STAGE,
                rejection.error,
            )
            await self._dead_letters.send_error(source, STAGE, rejection.error, body=rejection.body)

    async def sweep(self, partition: int) -> None:
        """Dead-letter the jobs of ``partition`` parked for PARKED_JOB_WINDOW or longer."""
        now = self._clock()
        still_parked = 0

        for key, entry in list(self._tables.parked.items()):
            if not entry or entry["partition"] != partition:
                continue

            # NOTE: the sweep does not look up the push of expired jobs in the database. Jobs
            # parked before their push was stored are released only by a later job event of
            # the same push, whose batch looks the push up, or by the push message.
            waiting, expired = split_expired(entry, now, self._window)
            for job in expired:
                await self._dead_letter_missing_push(key, job)

            if waiting and expired:
                self._tables.parked[key] = {"partition": partition, "jobs": waiting}
            elif expired:
                del self._tables.parked[key]
            still_parked += len(waiting)

        metrics.PARKED_NOW.labels(partition=str(partition)).set(still_parked)
        logger.debug("Swept partition %d: %d jobs still parked", partition, still_parked)

    async def _dead_letter_missing_push(self, key: str, job: ParkedJob) -> None:
        parked_at = datetime.fromtimestamp(job["parked_at"], timezone.utc)
        record = build_dead_letter_record(
            source_of(job),
            stage=STAGE,
            reason=RejectReason.MISSING_PUSH.value,
            message=f"no push {key} arrived within {self._window:g} s of parking the job",
            detail={
                "job_guid": job["record"]["job"]["job_guid"],
                "state": job["record"]["job"]["state"],
                "parked_at": parked_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
                "window_seconds": self._window,
            },
            body=encode_json(job["record"]),
        )
        await self._dead_letters.send_record(source_of(job), record)
        metrics.PARKED_NOW.labels(partition=str(job["source"]["partition"])).dec()



def _split_push_key(key: str) -> tuple[str, str]:
    """Split a `<repository>/<revision>` key at its last slash, since revisions are hex hashes."""
    repository, _, revision = key.rpartition("/")
    return repository, revision


def _units(plan: JoinPlan) -> list[_Unit]:
    """List the batch's database records: pushes in event order, then jobs."""
    units = [_Unit(True, write.record, write.source) for write in plan.push_writes.values()]
    units.extend(_Unit(False, record, job.source) for job, record in database_jobs(plan.jobs))
    return units


def _body(job: AppliedJob) -> bytes | None:
    # A released job's source has no value, so its record is the dead-letter body.
    return encode_json(job.record) if job.released else None


def _count(plan: JoinPlan) -> None:
    """Update the metrics of a batch whose tables were stored."""
    if plan.dropped:
        metrics.STATE_DROPPED.inc(plan.dropped)
    if plan.behind:
        metrics.BEHIND_DATABASE.inc(len(plan.behind))
    for partition in plan.parked_partitions:
        metrics.PARKED.inc()
        metrics.PARKED_NOW.labels(partition=str(partition)).inc()
    for release in plan.releases:
        metrics.RELEASED.inc(release.count)
        metrics.PARKED_NOW.labels(partition=str(release.partition)).dec(release.count)
        logger.info("Released %d parked jobs of push %s", release.count, release.key)
    for write in plan.push_sends:
        logger.info("Accepted push %s from %s", write.key, write.source.position)

    metrics.ACCEPTED.labels(kind="push").inc(len(plan.push_sends))
    metrics.ACCEPTED.labels(kind="job").inc(len(plan.jobs))
