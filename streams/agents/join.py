"""Join of jobs with their pushes: push table, parked jobs, job-state rule, database and sinks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

from streams import metrics
from streams.agents.publish import Publisher, encode_json
from streams.agents.source import SourceEvent
from streams.config import TopicNames
from streams.errors import RejectedMessage, RejectReason, RetriableError
from streams.sinks.deadletter import DeadLetterSink, build_dead_letter_record
from streams.tables.definitions import JoinTables
from streams.tables.parked import (
    ParkedEntry,
    ParkedJob,
    add_job,
    make_parked_job,
    source_of,
    split_expired,
)
from streams.transforms.decode import decode_json
from streams.transforms.state import JOB_STATES, should_apply

logger = logging.getLogger(__name__)

STAGE = "join"


class JoinDatabase(Protocol):
    """Database writes of the join; each call returns once the rows are committed.

    Implementations retry infrastructure faults themselves and raise RejectedMessage (or
    another exception) only for records that can never be written.
    """

    async def write_pushes(self, records: Sequence[dict[str, Any]]) -> None:
        """Upsert push records."""

    async def write_jobs(self, records: Sequence[dict[str, Any]]) -> None:
        """Upsert job records in list order under the job-state rule."""


def push_key(record: dict[str, Any]) -> str:
    """Return the `<repository>/<revision>` key of a push or job record."""
    return f"{record['repository']}/{record['revision']}"


class JoinProcessor:
    """Handles one event of the push, job or sweep topic; the agent calls it per event.

    Every table read and write happens while Faust's current event is the event being
    handled, so each key lives in the table partition of its by-revision partition.
    Handlers are idempotent because an event is consumed again after a crash.
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._topics = topics
        self._tables = tables
        self._database = database
        self._accepted_pushes = accepted_pushes
        self._accepted_jobs = accepted_jobs
        self._dead_letters = dead_letters
        self._window = parked_job_window
        self._clock = clock

    async def __call__(self, source: SourceEvent) -> None:
        """Dispatch ``source`` by its topic."""
        if source.topic == self._topics.pushes:
            await self.handle_push(source)
        elif source.topic == self._topics.jobs:
            await self.handle_job(source)
        elif source.topic == self._topics.sweep:
            await self.sweep(source.partition)
        else:
            raise RuntimeError(f"join agent received an event of unexpected topic {source.topic}")

    async def handle_push(self, source: SourceEvent) -> None:
        """Store the push, write it to the database and the accepted topic, then release its jobs."""
        record = _decode_push(source)
        key = push_key(record)

        await self._database.write_pushes([record])
        await self._accepted_pushes.publish(key, record, context=source.position)
        self._tables.pushes[key] = record

        metrics.ACCEPTED.labels(kind="push").inc()
        logger.info("Accepted push %s from %s", key, source.position)

        await self._release(key)

    async def handle_job(self, source: SourceEvent) -> None:
        """Apply the job-state rule, then accept the job if its push is known or park it."""
        record = _decode_job(source)
        key = push_key(record)
        guid = record["job"]["job_guid"]
        state = record["job"]["state"]

        current = self._tables.job_states.get(guid)
        if not should_apply(current, state):
            metrics.STATE_DROPPED.inc()
            logger.debug(
                "Dropped job %s event in state %s after state %s (%s, push %s)",
                guid,
                state,
                current,
                source.position,
                key,
            )
            return

        if self._tables.pushes.get(key) is None:
            self._park(key, record, source)
            self._tables.job_states[guid] = state
            return

        # Jobs still parked under a known push were left by an interrupted release; they
        # are older than this event and go first.
        await self._release(key)

        await self._database.write_jobs([record])
        await self._accepted_jobs.publish(guid, record, context=source.position)
        # The table is updated last: if the worker dies before this line, the replayed event
        # is applied again instead of being dropped as a repeat of a completed job.
        # NOTE: Only the database sink completes the guids in `superseded`. This table keeps
        # their last state, so a later event for one of them is still emitted.
        self._tables.job_states[guid] = state

        metrics.ACCEPTED.labels(kind="job").inc()
        logger.debug("Accepted job %s state %s (%s, push %s)", guid, state, source.position, key)

    async def sweep(self, partition: int) -> None:
        """Dead-letter the jobs of ``partition`` parked for PARKED_JOB_WINDOW or longer."""
        now = self._clock()
        still_parked = 0

        for key, entry in list(self._tables.parked.items()):
            if not entry or entry["partition"] != partition:
                continue

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

    def _park(self, key: str, record: dict[str, Any], source: SourceEvent) -> None:
        job = make_parked_job(record, source, self._clock())
        entry, added = add_job(self._tables.parked.get(key), source.partition, job)
        if not added:
            logger.debug(
                "Job event %s (job %s state %s) is already parked under %s; replay ignored",
                source.position,
                record["job"]["job_guid"],
                record["job"]["state"],
                key,
            )
            return

        self._tables.parked[key] = entry
        metrics.PARKED.inc()
        metrics.PARKED_NOW.labels(partition=str(source.partition)).inc()
        logger.debug(
            "Parked job %s state %s until push %s arrives (%s, %d parked for it)",
            record["job"]["job_guid"],
            record["job"]["state"],
            key,
            source.position,
            len(entry["jobs"]),
        )

    async def _release(self, key: str) -> None:
        entry: ParkedEntry | None = self._tables.parked.get(key)
        if not entry:
            return

        jobs = entry["jobs"]
        await self._write_parked_jobs(key, jobs)
        for job in jobs:
            record = job["record"]
            guid = record["job"]["job_guid"]
            await self._accepted_jobs.publish(guid, record, context=_position(job))

        del self._tables.parked[key]

        metrics.RELEASED.inc(len(jobs))
        metrics.ACCEPTED.labels(kind="job").inc(len(jobs))
        metrics.PARKED_NOW.labels(partition=str(entry["partition"])).dec(len(jobs))
        logger.info("Released %d parked jobs of push %s", len(jobs), key)

    async def _write_parked_jobs(self, key: str, jobs: list[ParkedJob]) -> None:
        try:
            await self._database.write_jobs([job["record"] for job in jobs])
            return
        except RetriableError:
            raise
        except RejectedMessage as error:
            logger.warning("Writing the %d parked jobs of %s failed: %s", len(jobs), key, error)
        except Exception:
            logger.exception("Writing the %d parked jobs of %s failed", len(jobs), key)

        # One bad record must not hold back the others: write them one by one, and
        # dead-letter each record that fails on its own. Its accepted send that follows is
        # skipped by removing it from ``jobs``.
        written: list[ParkedJob] = []
        for job in jobs:
            try:
                await self._database.write_jobs([job["record"]])
            except RetriableError:
                raise
            except Exception as error:
                source = source_of(job)
                await self._dead_letters.send_error(
                    source, STAGE, error, body=encode_json(job["record"])
                )
            else:
                written.append(job)
        jobs[:] = written

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


def _position(job: ParkedJob) -> str:
    source = job["source"]
    return f"{source['topic']}[{source['partition']}]@{source['offset']}"


def _decode_push(source: SourceEvent) -> dict[str, Any]:
    record = decode_json(source.value or b"")
    _require_text(record, ("repository", "revision"), "push record")
    return record


def _decode_job(source: SourceEvent) -> dict[str, Any]:
    record = decode_json(source.value or b"")
    _require_text(record, ("repository", "revision"), "job record")
    _require_text(record.get("job"), ("job_guid", "state"), "job record field `job`")

    state = record["job"]["state"]
    if state not in JOB_STATES:
        raise RejectedMessage(
            RejectReason.SCHEMA,
            f"job state {state!r} is not one of {', '.join(JOB_STATES)}",
            detail=[{"path": "$.job.state", "rule": "enum", "value": state}],
        )
    return record


def _require_text(value: Any, fields: tuple[str, ...], what: str) -> None:
    if not isinstance(value, dict):
        raise RejectedMessage(RejectReason.SCHEMA, f"{what} is not a JSON object")

    for field in fields:
        if not isinstance(value.get(field), str) or not value[field]:
            raise RejectedMessage(
                RejectReason.SCHEMA,
                f"{what} has no text field `{field}`",
                detail=[{"path": f"$.{field}", "rule": "required", "value": value.get(field)}],
            )
