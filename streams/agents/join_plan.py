"""The join's plan for one batch: events folded in order over buffered table changes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.agents.publish import encode_json
from streams.agents.source import SourceEvent
from streams.config import TopicNames
from streams.errors import RejectedMessage, RejectReason
from streams.sinks.database.records import StoredJob, StoredJobs
from streams.sinks.database.rows import stored_result
from streams.tables.definitions import JoinTables
from streams.tables.overlay import TableOverlay
from streams.tables.parked import add_job, make_parked_job, source_of
from streams.tables.scope import event_scope
from streams.transforms.decode import decode_json
from streams.transforms.state import JOB_STATES, should_apply, state_rank

logger = logging.getLogger(__name__)

COMPLETED = "completed"

# Kafka coordinates (topic, partition, offset) that identify one consumed event.
Coordinates = tuple[str, int, int]


def coordinates(source: SourceEvent) -> Coordinates:
    """Return the (topic, partition, offset) of ``source``."""
    return (source.topic, source.partition, source.offset)


def push_key(record: dict[str, Any]) -> str:
    """Return the `<repository>/<revision>` key of a push or job record."""
    return f"{record['repository']}/{record['revision']}"


@dataclass(frozen=True)
class BatchItem:
    """One consumed event of a batch and the Faust event whose partition its table keys use."""

    source: SourceEvent

    # The Faust event, or None outside a Faust stream (unit tests with dict tables).
    event: Any = None

    # The job record of a raw job event that is joined in its raw partition, transformed
    # by the router; None for events whose value is a push, job or sweep record.
    record: dict[str, Any] | None = None


@dataclass(frozen=True)
class PushWrite:
    """An accepted push record and the event it came from."""

    key: str
    record: dict[str, Any]
    source: SourceEvent


@dataclass(frozen=True)
class AppliedJob:
    """A job event that passed the batch's state rule and goes to the database.

    It is sent to the accepted topic unless it is behind the job's stored row.
    ``released`` is true for a job parked by an earlier event and released by its push.
    """

    record: dict[str, Any]
    source: SourceEvent
    released: bool

    @property
    def guid(self) -> str:
        """Job guid of the record."""
        return self.record["job"]["job_guid"]


@dataclass(frozen=True)
class Rejection:
    """An event to dead-letter, with the error and, for parked jobs, the record's bytes."""

    source: SourceEvent
    error: BaseException
    body: bytes | None = None


@dataclass(frozen=True)
class DatabasePush:
    """A push record read from the database and the Faust event of a job that needs it.

    The event is that of the first job parked under the push key in the batch. Its partition
    is the key's table partition.
    """

    record: dict[str, Any]
    event: Any = None


@dataclass(frozen=True)
class Release:
    """Parked jobs of one push key that a push released."""

    key: str
    partition: int
    count: int


@dataclass
class JoinPlan:
    """Everything one batch writes, sends and changes, in event order.

    Table changes stay in the overlays until the database write and the sends are confirmed.
    """

    pushes: TableOverlay
    parked: TableOverlay
    # State last applied to each job guid by this batch's events. Every plan starts empty,
    # because the database applies the state rule against the stored rows.
    batch_states: dict[str, str] = field(default_factory=dict)
    push_writes: dict[str, PushWrite] = field(default_factory=dict)
    push_sends: list[PushWrite] = field(default_factory=list)
    jobs: list[AppliedJob] = field(default_factory=list)
    behind: list[AppliedJob] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    parked_partitions: list[int] = field(default_factory=list)
    # Push keys that job events were parked under in this batch, with the first such event.
    parked_keys: dict[str, Any] = field(default_factory=dict)
    dropped: int = 0

    def unknown_push_keys(self) -> dict[str, Any]:
        """Return the keys that jobs were parked under and that no push of the plan released."""
        return {key: event for key, event in self.parked_keys.items() if self.pushes.get(key) is None}

    def commit_tables(self) -> None:
        """Write the buffered changes to the push and parked-job tables.

        If the worker dies part-way, the batch is consumed again. A push or a released job
        is then written again, which is idempotent, and a job parked again is recognized by
        its offset (see ``streams.tables.parked.add_job``).
        """
        self.pushes.commit()
        self.parked.commit()


class JoinPlanner:
    """Folds the push and job events of a batch, in order, into a JoinPlan.

    The fold applies the same rules as handling the events one by one: parking until the
    push is known, release in arrival order, and the job-state rule per guid among the
    events of the batch. An event behind a state stored by an earlier batch passes the
    fold, and the database ignores it (see ``split_behind_database``).
    """

    def __init__(
        self, topics: TopicNames, tables: JoinTables, clock: Callable[[], float]
    ) -> None:
        self._topics = topics
        self._tables = tables
        self._clock = clock

    def plan(
        self,
        items: list[BatchItem],
        excluded: Mapping[Coordinates, BaseException],
        database_pushes: Mapping[str, DatabasePush] | None = None,
    ) -> JoinPlan:
        """Fold ``items``; events in ``excluded`` are rejected with their error instead.

        ``excluded`` lists events whose records the database rejected in an earlier attempt
        of the same batch; they may be released parked jobs from earlier batches.
        ``database_pushes`` maps push keys to pushes read from the database. They count as
        known from the start of the batch and are stored in the push table with its changes,
        but they are neither written nor sent.
        """
        plan = JoinPlan(
            pushes=TableOverlay(self._tables.pushes),
            parked=TableOverlay(self._tables.parked),
        )
        for key, stored in (database_pushes or {}).items():
            plan.pushes.set(key, stored.record, stored.event)

        for item in items:
            source = item.source
            error = excluded.get(coordinates(source))
            if error is not None:
                plan.rejections.append(Rejection(source, error))
                continue

            with event_scope(item.event):
                try:
                    self._add(plan, item, excluded)
                except Exception as failure:
                    plan.rejections.append(Rejection(source, failure))

        return plan

    def _add(
        self, plan: JoinPlan, item: BatchItem, excluded: Mapping[Coordinates, BaseException]
    ) -> None:
        topic = item.source.topic
        if topic == self._topics.pushes:
            self._add_push(plan, item, excluded)
        elif topic == self._topics.jobs or item.record is not None:
            self._add_job(plan, item, excluded)
        else:
            raise RuntimeError(f"join agent received an event of unexpected topic {topic}")

    def _add_push(
        self, plan: JoinPlan, item: BatchItem, excluded: Mapping[Coordinates, BaseException]
    ) -> None:
        record = decode_push(item.source)
        key = push_key(record)
        write = PushWrite(key, record, item.source)

        # The last push event of a key is the one written; it moves to the end of the order.
        plan.push_writes.pop(key, None)
        plan.push_writes[key] = write
        plan.push_sends.append(write)
        plan.pushes.set(key, record, item.event)

        self._release(plan, key, item, excluded)

    def _add_job(
        self, plan: JoinPlan, item: BatchItem, excluded: Mapping[Coordinates, BaseException]
    ) -> None:
        source = item.source
        record = item.record if item.record is not None else decode_job(source)
        key = push_key(record)

        # Every event of a parked guid is parked under the same push key, so the state rule
        # runs on all of them, in order, when they are released.
        if plan.pushes.get(key) is None:
            self._park(plan, key, record, item)
            return

        # Jobs still parked under a known push were left by an interrupted release; they
        # are older than this event and go first.
        self._release(plan, key, item, excluded)

        self._apply(plan, AppliedJob(record, source, released=False))

    def _apply(self, plan: JoinPlan, job: AppliedJob) -> None:
        """Add ``job`` to the plan's jobs unless an earlier event of the batch is further along."""
        state = job.record["job"]["state"]
        current = plan.batch_states.get(job.guid)
        if not should_apply(current, state):
            plan.dropped += 1
            logger.debug(
                "Dropped job %s event in state %s after state %s in the same batch (%s, push %s)",
                job.guid,
                state,
                current,
                job.source.position,
                push_key(job.record),
            )
            return

        self._complete_superseded(plan, job)
        plan.jobs.append(job)
        plan.batch_states[job.guid] = state

    def _complete_superseded(self, plan: JoinPlan, job: AppliedJob) -> None:
        # A superseded job applied earlier in the batch is completed here as the database
        # completes it, so its later events of the batch are dropped. A guid without a state
        # in the batch is left alone. The database completes its row, if one exists, and
        # ignores its events of later batches (database_jobs covers those of this batch).
        for guid in job.record.get("superseded") or []:
            current = plan.batch_states.get(guid)
            if current is not None and current != COMPLETED:
                plan.batch_states[guid] = COMPLETED
                logger.debug(
                    "Completed superseded job %s (was %s), superseded by %s at %s",
                    guid,
                    current,
                    job.guid,
                    job.source.position,
                )

    def _park(self, plan: JoinPlan, key: str, record: dict[str, Any], item: BatchItem) -> None:
        # The processor looks up the keys parked here in the database and, for each push it
        # finds, plans the batch again with that push known.
        source = item.source
        plan.parked_keys.setdefault(key, item.event)
        job = make_parked_job(record, source, self._clock())
        entry, added = add_job(plan.parked.get(key), source.partition, job)
        if not added:
            logger.debug(
                "Job event %s (job %s state %s) is already parked under %s; replay ignored",
                source.position,
                record["job"]["job_guid"],
                record["job"]["state"],
                key,
            )
            return

        plan.parked.set(key, entry, item.event)
        plan.parked_partitions.append(source.partition)
        logger.debug(
            "Parked job %s state %s until push %s arrives (%s, %d parked for it)",
            record["job"]["job_guid"],
            record["job"]["state"],
            key,
            source.position,
            len(entry["jobs"]),
        )

    def _release(
        self,
        plan: JoinPlan,
        key: str,
        item: BatchItem,
        excluded: Mapping[Coordinates, BaseException],
    ) -> None:
        entry = plan.parked.get(key)
        if not entry:
            return

        # A released job that the state rule drops leaves the parked table like the others.
        for job in entry["jobs"]:
            source = source_of(job)
            error = excluded.get(coordinates(source))
            if error is not None:
                plan.rejections.append(Rejection(source, error, encode_json(job["record"])))
            else:
                self._apply(plan, AppliedJob(job["record"], source, released=True))

        plan.parked.delete(key, item.event)
        plan.releases.append(Release(key, entry["partition"], len(entry["jobs"])))


def database_jobs(jobs: list[AppliedJob]) -> list[tuple[AppliedJob, dict[str, Any]]]:
    """Return the record to write for each guid's last applied event, in event order.

    Earlier applied events of a guid are not written, but their log references and the
    supersedes they list are merged into the written record, so the rows end as if every
    event had been written in turn. The events of a guid in ``jobs`` never step backward,
    so when the database ignores the written record, which may be behind the stored row,
    it would have ignored each earlier event of the guid too. A listed guid is left out of
    the supersedes when an event of it is applied later in the batch, because the database
    completes the superseded jobs after the batch's upserts and one by one it would not
    have.

    NOTE: leaving a guid out matches one-by-one handling only when it had no row before
    the batch. A guid whose row an earlier batch stored, superseded here and given a later
    event in the same batch, ends with that event's state and result, where one by one it
    would end `superseded`.
    """
    last: dict[str, int] = {}
    for index, job in enumerate(jobs):
        last[job.guid] = index

    superseded: dict[str, dict[str, None]] = {}
    logs: dict[str, dict[tuple[Any, Any], dict[str, Any]]] = {}
    for index, job in enumerate(jobs):
        for guid in job.record.get("superseded") or []:
            if last.get(guid, -1) < index:
                superseded.setdefault(job.guid, {})[guid] = None
        for reference in job.record["job"].get("log_references") or []:
            references = logs.setdefault(job.guid, {})
            references.setdefault((reference.get("name"), reference.get("url")), reference)

    written: list[tuple[AppliedJob, dict[str, Any]]] = []
    for index, job in enumerate(jobs):
        if last[job.guid] != index:
            continue

        record = dict(job.record)
        record["superseded"] = list(superseded.get(job.guid, {}))
        if job.guid in logs:
            record["job"] = {**record["job"], "log_references": list(logs[job.guid].values())}
        written.append((job, record))
    return written


def split_behind_database(
    jobs: list[AppliedJob], stored: StoredJobs
) -> tuple[list[AppliedJob], list[AppliedJob]]:
    """Split applied job events into those to send and those behind their stored row.

    ``stored`` maps guids to the rows that the batch's transaction found before its upserts.
    The database is the authority on a job's state, since the plan applies the state rule
    only among the events of one batch. A row is further along than an event when a later
    state of the job came in an earlier batch, or when a killed worker stored the event's
    batch and its successor consumes it again. The upsert ignores such an event. Every
    record on the accepted-jobs topic was stored before it was sent, so sending only events
    at least as far as the stored row keeps the topic's states of a guid in order.
    """
    ahead: list[AppliedJob] = []
    behind: list[AppliedJob] = []
    for job in jobs:
        if is_behind(job.record, stored.get(job.guid)):
            behind.append(job)
        else:
            ahead.append(job)
    return ahead, behind


def is_behind(record: dict[str, Any], stored: StoredJob | None) -> bool:
    """Tell whether a job event would move the job back from its stored row.

    An event of equal rank is not behind, so a replay of the event that the stored row
    came from is sent again, in case the killed worker stored it but never sent it. A
    repeat of that event in a later batch, such as a redelivered Pulse message, is sent
    again too. For a completed row only a completed event with the same result counts as
    equal, because the database keeps the first completed event of a job.
    """
    if stored is None:
        return False

    state = record["job"]["state"]
    if stored.state == COMPLETED:
        return state != COMPLETED or stored_result(record["job"]) != stored.result
    return state_rank(state) < state_rank(stored.state)


def decode_push(source: SourceEvent) -> dict[str, Any]:
    """Decode a push record, rejecting one without repository and revision."""
    record = decode_json(source.value or b"")
    _require_text(record, ("repository", "revision"), "push record")
    return record


def decode_job(source: SourceEvent) -> dict[str, Any]:
    """Decode a job record, rejecting one without guid or with an unknown state."""
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

    for name in fields:
        if not isinstance(value.get(name), str) or not value[name]:
            raise RejectedMessage(
                RejectReason.SCHEMA,
                f"{what} has no text field `{name}`",
                detail=[{"path": f"$.{name}", "rule": "required", "value": value.get(name)}],
            )
